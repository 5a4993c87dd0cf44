# Everything runs from a local virtual environment that these targets create and refresh.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The suite mostly waits (bots starting, stand-ins answering, leases running out): six workers
# overlap the waits on two cores (four were a fifth slower), and idle ones steal the queued tests
# of busy ones, so a few long tests do not end the run alone. Each worker has its own databases,
# template files and fork server (tests/db_fixtures.py, tests/forked.py).
WORKERS ?= 6
PYTEST := $(BIN)/pytest -n $(WORKERS) --dist worksteal

# Python may write its bytecode caches (__pycache__/, ignored by git) even where the environment
# says not to: every test worker, fork server and command-line process would otherwise compile
# the project's sources, and pytest rewrite every test module's asserts, all over again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test quick lint typecheck unit bench run sandbox clean

# uv installs the pinned set in a few seconds, where pip takes a quarter of a minute; where uv
# cannot be had (or cannot reach an index), pip does the same install.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -c constraints.txt uv 2>/dev/null || echo "uv is not to be had: installing with pip"
	@if test -x $(BIN)/uv && $(BIN)/uv pip install --quiet --compile-bytecode \
	      --python $(BIN)/python -c constraints.txt -e '.[dev]'; then :; else \
	  $(PIP) install --upgrade pip && $(PIP) install -c constraints.txt -e '.[dev]'; fi
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
