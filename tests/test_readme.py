"""The README is the operator's manual: it must not fall behind the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis, WarningCode
from bot.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


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
    example = (Path(__file__).parents[1] / ".env.example").read_text(encoding="utf-8")

    assert f"{field.upper()}=" in example


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
