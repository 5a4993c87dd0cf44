"""The README and `docs/` are the manuals: they must not fall behind the code.

The README stays short (what it does, the two commands, creating the Slack app, the settings a
first run needs, where to look); each topic has one page in `docs/`, linked from the README.
Every fact a page shares with the code is checked here against the code, in its one home.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.engine.diagnosis import Diagnosis, WarningCode
from bot.sandbox.ecwid.stores import SampleStore, sample_stores
from bot.settings import Settings
from tests.paths import REPO

README_PATH = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MANUALS = [README_PATH, *PAGES]


def _text(page: str) -> str:
    return (REPO / page).read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The text under `heading` (a whole heading line), up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + 1
    following = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading) :], re.MULTILINE)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def _table_first_cells(section: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


README = README_PATH.read_text(encoding="utf-8")
DIAGNOSES = _text("docs/diagnoses.md")
OPERATING = _text("docs/operating.md")
CONTRIBUTING = _text("docs/contributing.md")


# The README itself.


def test_the_readme_is_short_enough_to_read() -> None:
    assert len(README.encode("utf-8")) <= 12 * 1024


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_the_readme_tells_how_to_create_the_slack_app_from_both_manifests() -> None:
    # The start-up error for a refused token points here by this heading.
    section = _section(README, "### 1. Create the Slack app from the manifest")
    for needed in ("manifest.yml", "manifest.http.yml", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"):
        assert needed in section, needed
    assert "/invite" in section


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_page_of_the_docs_is_linked_from_the_readme(page: Path) -> None:
    assert f"](docs/{page.name}" in README


# Links and code references in every manual.


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    return {_slug(title) for title in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def _links(manual: Path) -> list[tuple[str, str]]:
    text = manual.read_text(encoding="utf-8")
    return re.findall(r"\]\((?!https?:|mailto:)([^)#\s]*)(?:#([^)\s]+))?\)", text)


@pytest.mark.parametrize("manual", MANUALS, ids=lambda manual: manual.name)
def test_every_link_between_the_manuals_leads_somewhere(manual: Path) -> None:
    broken = []
    for target, anchor in _links(manual):
        page = (manual.parent / target).resolve() if target else manual
        if not page.exists():
            broken.append(target)
        elif anchor and anchor not in _anchors(page):
            broken.append(f"{target}#{anchor}")
    assert broken == []


CODE_REFERENCE = re.compile(r"`((?:bot|handlers|tests|bench|docs|\.ci)/[\w/.-]*)`")


def _missing_references(text: str) -> list[str]:
    """Paths named in backticks that are not in the tree, and `module.name` whose name is gone.

    `bot/engine/check.py` is a path; `bot/slack/answers.AnswerService.check_and_answer` names
    `AnswerService` in `bot/slack/answers.py`.
    """
    missing = []
    for reference in CODE_REFERENCE.findall(text):
        if (REPO / reference.rstrip("/")).exists():
            continue
        module, _, names = reference.partition(".")
        source = REPO / f"{module}.py"
        name = names.split(".")[0]
        defined = rf"^\s*(?:async def|def|class) {name}\b|^{name}\b"
        if not (name and source.exists() and re.search(defined, source.read_text("utf-8"), re.M)):
            missing.append(reference)
    return missing


@pytest.mark.parametrize("manual", MANUALS, ids=lambda manual: manual.name)
def test_every_path_and_name_a_manual_points_at_exists(manual: Path) -> None:
    assert _missing_references(manual.read_text(encoding="utf-8")) == [], (
        "a module was moved or renamed: bring the text along"
    )


def test_a_reference_to_something_gone_is_caught() -> None:
    text = "`bot/engine/check.py`, `bot/engine/gone.py`, `bot/service.NoSuchService.check`"

    assert _missing_references(text) == ["bot/engine/gone.py", "bot/service.NoSuchService.check"]


def test_the_places_a_newcomer_looks_for_exist() -> None:
    places = re.findall(r"`(bot/[\w/]+\.py|handlers/[\w/]+\.py)` \(`(\w+)`", CONTRIBUTING)
    assert len(places) >= 3
    for path, name in places:
        assert f"def {name}" in (REPO / path).read_text(encoding="utf-8"), (path, name)


# Diagnoses and sample stores: docs/diagnoses.md.


@pytest.mark.parametrize("code", [*Diagnosis, *WarningCode], ids=str)
def test_every_diagnosis_and_warning_is_explained(code: str) -> None:
    assert f"`{code}`" in DIAGNOSES


def test_the_diagnosis_table_says_when_each_code_is_given() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \|$", _section(DIAGNOSES, "## Diagnosis codes"), re.M)
    assert [code for code, _ in rows] == [diagnosis.value for diagnosis in Diagnosis]
    assert all(when for _, when in rows)


@pytest.mark.parametrize(
    ("item", "fact"), [("Followed up", "follows_up"), ("Blames the token", "blames_token")]
)
def test_the_codes_each_fact_sets_off_are_listed(item: str, fact: str) -> None:
    section = _section(DIAGNOSES, "## What each code sets off")
    listed = re.search(rf"^- {item} .*?\): (.*?)\.$", section, flags=re.MULTILINE | re.DOTALL)
    assert listed is not None, item
    codes = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert codes == {diagnosis.value for diagnosis in Diagnosis if getattr(diagnosis, fact)}


@pytest.mark.parametrize("store", sample_stores(), ids=lambda store: store.key)
def test_every_sample_store_is_listed_with_its_diagnosis(store: SampleStore) -> None:
    assert f"| `{store.key}` | `{store.expected.value}`" in _section(DIAGNOSES, "## Sample stores")


# Settings: every one in docs/operating.md; the README's few are real ones.

SETTINGS = sorted(field.upper() for field in Settings.model_fields)


def test_every_setting_is_in_the_settings_table_and_nothing_else() -> None:
    assert sorted(_table_first_cells(_section(OPERATING, "## Settings"))) == SETTINGS


def test_the_readme_names_only_real_settings() -> None:
    brief = _table_first_cells(_section(README, "### Settings"))
    assert brief
    assert set(brief) <= set(SETTINGS)


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_is_in_the_env_example(setting: str) -> None:
    example = (REPO / ".env.example").read_text(encoding="utf-8")

    assert f"{setting}=" in example


# The layout: docs/contributing.md.

LAYOUT = _section(CONTRIBUTING, "## Layout")
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
