"""The README is the operator's manual: it must not fall behind the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.diagnosis import Diagnosis, WarningCode
from bot.sandbox.ecwid.stores import SampleStore, sample_stores
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


@pytest.mark.parametrize("store", sample_stores(), ids=lambda store: store.key)
def test_every_sample_store_is_listed_with_its_diagnosis(store: SampleStore) -> None:
    assert f"| `{store.key}` | `{store.expected.value}`" in README
