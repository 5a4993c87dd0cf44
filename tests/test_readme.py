"""The README is the operator's manual: it must not fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis, WarningCode
from bot.sandbox.ecwid.stores import SampleStore, sample_stores
from bot.settings import Settings
from tests.paths import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("code", [*Diagnosis, *WarningCode], ids=str)
def test_every_diagnosis_and_warning_is_explained(code: str) -> None:
    assert f"`{code}`" in README


@pytest.mark.parametrize("field", sorted(Settings.model_fields), ids=str)
def test_every_setting_is_documented(field: str) -> None:
    assert f"`{field.upper()}`" in README


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README
    assert "make test" in README


@pytest.mark.parametrize("field", sorted(Settings.model_fields), ids=str)
def test_every_setting_is_in_the_env_example(field: str) -> None:
    example = (REPO / ".env.example").read_text(encoding="utf-8")

    assert f"{field.upper()}=" in example


LAYOUT = README[README.index("### Layout") : README.index("### How it fits together")]
LAYOUT_PATHS = re.findall(r"^\| `([^`]+)`(?:, `([^`]+)`)? \|", LAYOUT, flags=re.MULTILINE)


def test_every_path_in_the_layout_table_exists() -> None:
    paths = [path for row in LAYOUT_PATHS for path in row if path]
    assert len(paths) > 10
    missing = [path for path in paths if not (REPO / path.rstrip("/")).exists()]
    assert missing == []


@pytest.mark.parametrize(
    "part",
    sorted(
        str(path.relative_to(REPO)) + ("/" if path.is_dir() else "")
        for package in ("bot", "handlers")
        for path in (REPO / package).iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name != "__init__.py")
    ),
)
def test_every_package_and_module_of_the_tree_is_in_the_layout_table(part: str) -> None:
    named = {path for row in LAYOUT_PATHS for path in row if path}
    assert part in named or part.rstrip("/") in named or f"`{Path(part).stem}`" in LAYOUT, part


def test_the_places_a_newcomer_looks_for_exist() -> None:
    places = re.findall(r"`(bot/[\w/]+\.py|handlers/[\w/]+\.py)` \(`(\w+)`", README)
    assert len(places) >= 3
    for path, name in places:
        assert f"def {name}" in (REPO / path).read_text(encoding="utf-8"), (path, name)


@pytest.mark.parametrize("store", sample_stores(), ids=lambda store: store.key)
def test_every_sample_store_is_listed_with_its_diagnosis(store: SampleStore) -> None:
    assert f"| `{store.key}` | `{store.expected.value}`" in README


def _diagnosis_rows() -> dict[str, list[str]]:
    rows = {}
    for line in README.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        codes = {diagnosis.value for diagnosis in Diagnosis}
        if len(cells) == 4 and cells[0].strip("`") in codes:
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_the_diagnosis_table_shows_the_title_users_see(diagnosis: Diagnosis) -> None:
    row = _diagnosis_rows()[diagnosis.value]
    assert row[2] == CATALOGUE[diagnosis].title
    assert row[3], "and the first step they are told"
