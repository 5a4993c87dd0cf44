# Everything runs from a local virtual environment that these targets create and refresh.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The suite mostly waits (bots starting, stand-ins answering, PostgreSQL): workers overlap the
# waits. Each worker has its own databases and template files (tests/db_fixtures.py).
WORKERS ?= 3
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist loadgroup

.PHONY: demo test quick lint typecheck unit bench run sandbox clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

## The main job: the whole conversation, offline, against the local Ecwid sandbox.
demo: $(STAMP)
	$(BIN)/ecwid-connect demo

## Lint, format check, type check, then the whole test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(PYTEST)

## The tests that start no process (no bot, no PostgreSQL server, no command line).
quick: $(STAMP)
	$(PYTEST) -q -m "not process"

bench: $(STAMP)
	$(BIN)/python -m bench

## The real bot, configured from .env.
run: $(STAMP)
	$(BIN)/ecwid-connect serve

sandbox: $(STAMP)
	$(BIN)/ecwid-connect sandbox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
