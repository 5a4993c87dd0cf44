"""A clone with nothing beside it passes the tests: all a test reads lives in the repository.

Every test, fixture and helper is scanned for references that leave the checkout: a parent
directory, a machine's absolute paths, or the reference folder that exists beside the
developers' checkouts and in nobody's clone. What a test needs is copied under
`tests/fixtures/`, with a note of its source.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = [REPO / "tests", REPO / "bench", REPO / "Makefile", REPO / ".ci"]
# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\." + "/",  # a parent directory
            r"(?<![\w.])/(?:work|home|root|Users|mnt)/",  # a machine's absolute paths
            r"(?<![\w-])" + "shared" + r"/(?:ecwid|slack|hooks|style)",  # the reference folder
            r"parents\[[2-9]\]",  # a path climbing out of the checkout
        ]
    )
)


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for place in SCANNED:
        candidates = [place] if place.is_file() else sorted(place.rglob("*"))
        files += [
            path
            for path in candidates
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        ]
    return files


def test_there_is_something_to_scan() -> None:
    assert len(scanned_files()) > 20


def test_refers_to_nothing_outside_the_repository() -> None:
    """One test over every scanned file, naming each file and line that leaves the checkout."""
    found = [
        f"{path.relative_to(REPO)} line {text.count(chr(10), 0, match.start()) + 1}: "
        f"{match.group()!r}"
        for path in scanned_files()
        for text in [path.read_text(encoding="utf-8", errors="replace")]
        for match in OUTSIDE.finditer(text)
    ]
    assert found == [], "references outside the repository:\n" + "\n".join(found)


def test_the_copied_reference_data_names_its_source() -> None:
    fixtures = REPO / "tests" / "fixtures"
    for folder in ("slack-manifest-schema", "ecwid"):
        assert (fixtures / folder / "SOURCE.md").is_file()
    assert (fixtures / "slack-manifest-schema" / "LICENSE").is_file()
