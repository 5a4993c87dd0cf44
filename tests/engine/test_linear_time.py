"""No input can make parsing super-linear: a complexity assertion, not a performance target.

Every regular expression that user or server input reaches is run on growing adversarial inputs
(a pumped string, after a prefix, before a tail that breaks the match), and so are the
functions built on them. The time at 4n is compared with the time at n, best of several runs:
about 4 is linear, 16 quadratic, 64 cubic. Only the ratio is asserted, never a duration, so a
slow or busy machine changes nothing but the noise, which CPU time (not wall time) and repeated
measurement absorb.
"""

from __future__ import annotations

import gc
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import pytest

from bot.engine import download, intake, leaks, postman, redaction
from bot.engine.errors import CheckError
from bot.engine.intake import normalise_paste, read_paste, read_store_credentials
from bot.engine.leaks import spot_secrets
from bot.engine.postman import parse_collection
from bot.engine.redaction import redact
from bot.settings import CollectionHost
from handlers import commands

# Inputs grow by this factor; above `MAX_GROWTH` the time grew faster than linearly (linear is
# 8, quadratic 64: the margin on either side absorbs a busy machine's noise).
FACTOR = 8
MAX_GROWTH = 20.0
FAR_BEYOND = 4 * MAX_GROWTH
ATTEMPTS = 3  # a suspect ratio is measured again before it counts
REPEATS = 5  # each timing is the best of this many samples, small and large in turns
MIN_SAMPLE_S = 0.001  # each run lasts at least this long, by repeating the call

_CHARACTERS = list(" \t\naA0_-./:=&%#?@<>|{}()[]\"'`;,!+~*$\\\x00\u200bé")
_PIECES = [
    "{{",
    "{{ ",
    "{{a",
    "}}",
    "a.",
    "a-",
    "0.",
    "a/",
    "/:a",
    "/a",
    "a@",
    "<a:",
    "<a:b|",
    "&amp;",
    "&#",
    "secret_",
    "public_",
    "secure_",
    "secret_a",
    "token=",
    "token ",
    "bearer ",
    "access_token=",
    "%5f",
    "a1",
    "0,",
    "0 ",
    "#0 ",
    "/api/v3/1",
    "http://",
    "https://a",
    "a.b/",
    "mailto:",
    ".json",
    ".postman_collection",
    "?token=",
    "a:",
    "((",
    "()",
    "(]",
    "\"'",
    "history ",
]
PUMPS = _CHARACTERS + _PIECES
PREFIXES = ["", "{{", "<a:", "token=", "bearer ", "a@", "https://", "#1 ", "history", "/api/v3/"]
TAILS = ["\x00", ""]


@dataclass(frozen=True)
class Case:
    """A growing input: `prefix`, then `pump` repeated to about `size` characters, then `tail`."""

    prefix: str
    pump: str
    tail: str

    def text(self, size: int) -> str:
        return self.prefix + self.pump * max(1, size // len(self.pump)) + self.tail

    def __str__(self) -> str:
        return f"{self.prefix!r} + {self.pump!r}*k + {self.tail!r}"


ALL_CASES = [Case(*parts) for parts in itertools.product(PREFIXES, PUMPS, TAILS)]
FEW_CASES = [Case("", pump, "\x00") for pump in PUMPS] + [
    Case(prefix, " ", "\x00") for prefix in PREFIXES if prefix
]


def _run(function: Callable[[str], object], text: str, loops: int) -> float:
    """CPU time of this thread, not wall time: time spent descheduled by a busy machine (other
    processes, other tests) is not counted."""
    start = time.thread_time()
    for _ in range(loops):
        function(text)
    return time.thread_time() - start


def _loops(function: Callable[[str], object], text: str) -> int:
    """How many calls on `text` last about `MIN_SAMPLE_S`."""
    loops = 1
    while _run(function, text, loops) < MIN_SAMPLE_S and loops < 1 << 16:
        loops *= 2
    return loops


def growth(function: Callable[[str], object], case: Case, size: int) -> float:
    """How much longer one call on `case` takes at `FACTOR` × `size` than at `size`.

    Both sizes are timed over samples of the same length (more calls on the small input) and in
    turns, best of `REPEATS`: on a busy machine a long sample is interrupted more often than a
    short one, which would pass for growth.
    """
    small, large = case.text(size), case.text(FACTOR * size)
    small_loops, large_loops = _loops(function, small), _loops(function, large)
    best_small = best_large = float("inf")
    for _ in range(REPEATS):
        best_small = min(best_small, _run(function, small, small_loops) / small_loops)
        best_large = min(best_large, _run(function, large, large_loops) / large_loops)
        if best_large > FAR_BEYOND * best_small:  # no noise does that: stop measuring
            break
    return best_large / max(best_small, 1e-12)


def super_linear(
    function: Callable[[str], object], cases: list[Case], size: int, *, screen: bool
) -> list[str]:
    """The cases on which `function` grows faster than linearly, each with its ratio.

    With `screen`, a quick look (one call per size) picks the cases worth measuring properly.
    """
    collecting = gc.isenabled()
    gc.disable()  # a collection during one run and not another is noise
    try:
        return [
            verdict for case in cases if (verdict := _verdict(function, case, size, screen=screen))
        ]
    finally:
        if collecting:
            gc.enable()


def _verdict(function: Callable[[str], object], case: Case, size: int, *, screen: bool) -> str:
    """Why `function` is super-linear on `case`, or "" when it is not."""
    if screen:
        small, large = case.text(size), case.text(FACTOR * size)
        quick_small = min(_run(function, small, 1) for _ in range(2))
        quick_large = min(_run(function, large, 1) for _ in range(2))
        if quick_large / max(quick_small, 1e-7) <= MAX_GROWTH:
            return ""
    ratios: list[float] = []
    while len(ratios) < ATTEMPTS and (not ratios or ratios[-1] < FAR_BEYOND):
        ratios.append(growth(function, case, size))
        if ratios[-1] <= MAX_GROWTH:
            return ""
    return f"{case}: ×{min(ratios):.1f} from n={size} to {FACTOR}n"


def scan(pattern: re.Pattern[str]) -> Callable[[str], object]:
    """Every match, as `sub`, `findall`, `split` and `search` look for them (in C: no Python
    object per match, whose allocation would add noise)."""
    return lambda text: pattern.subn("", text)


def fullmatch(pattern: re.Pattern[str]) -> Callable[[str], object]:
    return pattern.fullmatch


# Each input-facing pattern, used as the code uses it. A new pattern must be added here.
PATTERNS: dict[str, Callable[[str], object]] = {
    "intake._INVISIBLE": scan(intake._INVISIBLE),
    "intake._SLACK_LINK": scan(intake._SLACK_LINK),
    "intake._BARE_TOKEN": fullmatch(intake._BARE_TOKEN),
    "intake._STORE_AND_TOKEN": fullmatch(intake._STORE_AND_TOKEN),
    "intake.STORE_ID": fullmatch(intake.STORE_ID),
    "intake.TOKEN": fullmatch(intake.TOKEN),
    "intake.URL_LIKE": scan(intake.URL_LIKE),
    "intake._VALID_HOST": fullmatch(intake._VALID_HOST),
    "intake._S3_HOST": fullmatch(intake._S3_HOST),
    "intake._SCHEMELESS_HOST": fullmatch(intake._SCHEMELESS_HOST),
    "intake._NAMEABLE_SITE": fullmatch(intake._NAMEABLE_SITE),
    "intake._COLLECTION_PATH": fullmatch(intake._COLLECTION_PATH),
    "intake._API_PATH": fullmatch(intake._API_PATH),
    "intake._EMAIL": fullmatch(intake._EMAIL),
    # Written inline in intake.
    "intake: whitespace": scan(re.compile(r"\s")),
    "intake: token label": scan(re.compile(rf"^{intake._TOKEN_LABEL}")),
    "postman._STORE_ID_IN_URL": scan(postman._STORE_ID_IN_URL),
    "postman._STORE_ID_TEXT": fullmatch(postman._STORE_ID_TEXT),
    "postman._TOKEN_TEXT": fullmatch(postman._TOKEN_TEXT),
    "postman._PLACEHOLDER": scan(postman._PLACEHOLDER),
    "postman._PATH_VARIABLE": scan(postman._PATH_VARIABLE),
    "postman: variable name": scan(re.compile(r"[^a-z0-9]")),
    "redaction._TOKEN_PATTERN": scan(redaction._TOKEN_PATTERN),
    "redaction._LABELLED_TOKEN": scan(redaction._LABELLED_TOKEN),
    "redaction._WORD_BOUNDARIES": scan(redaction._WORD_BOUNDARIES),
    "redaction._TOKEN_IN_URL": scan(redaction._TOKEN_IN_URL),
    "redaction._ALPHANUMERIC_RUN": scan(redaction._ALPHANUMERIC_RUN),
    "commands.HISTORY": fullmatch(commands.HISTORY),
    "leaks._TOKEN_RUN": scan(leaks._TOKEN_RUN),
    "leaks._PREFIXED": lambda text: leaks._PREFIXED.match(text),
    "leaks._LEGACY": fullmatch(leaks._LEGACY),
    # Read only in the few characters beside a token.
    "leaks._STORE_ID_BEFORE": lambda text: leaks._STORE_ID_BEFORE.search(
        text[-leaks._NEARBY_CHARS :]
    ),
    "leaks._STORE_ID_AFTER": lambda text: leaks._STORE_ID_AFTER.match(text[: leaks._NEARBY_CHARS]),
}

HOSTS = (CollectionHost.parse("ecwid-api-playground.s3.amazonaws.com"),)


def _ignoring_check_errors(function: Callable[[str], object]) -> Callable[[str], object]:
    def call(text: str) -> object:
        try:
            return function(text)
        except CheckError as error:
            return error

    return call


def _uncached_redact(text: str) -> str:
    """`redact` doing all its work every time: the cache of clean texts would answer the short
    inputs, not the long ones, and the measurement is of the work."""
    redaction._CLEAN.clear()
    return redact(text)


def _collection_with(field: str) -> Callable[[str], object]:
    """Parse a collection whose `field` holds the pumped text (resolution included)."""

    def parse(text: str) -> object:
        request: dict[str, object] = {"id": "1", "url": "{{base}}/api/v3/1003/profile"}
        variables = {"base": "https://app.ecwid.com", "token": "secret_abcdefgh12345678"}
        if field == "url":
            request["url"] = text
        elif field == "headers":
            request["headers"] = text
        else:
            variables["base"] = text
        document = {"id": "c", "requests": [request] * 8, "variables": variables}
        try:
            return parse_collection(json.dumps(document).encode())
        except CheckError as error:
            return error

    return parse


# The functions input reaches, with the size their input is measured at (intake refuses more
# than 2,000 characters outright, so it is measured below that).
FUNCTIONS: dict[str, tuple[Callable[[str], object], int]] = {
    "normalise_paste": (normalise_paste, 1000),
    "read_paste": (_ignoring_check_errors(lambda text: read_paste(text, HOSTS)), 240),
    "read_store_credentials(store_id)": (
        _ignoring_check_errors(lambda text: read_store_credentials(text, "secret_x")),
        240,
    ),
    "read_store_credentials(token)": (
        _ignoring_check_errors(lambda text: read_store_credentials("1003", text)),
        240,
    ),
    "redact": (_uncached_redact, 1000),
    # A chat message, read by the leak guard: up to 40,000 characters, anyone's.
    "spot_secrets": (lambda text: spot_secrets(text, HOSTS), 1000),
    "parse_collection(url)": (_collection_with("url"), 1000),
    "parse_collection(headers)": (_collection_with("headers"), 1000),
    "parse_collection(variable)": (_collection_with("variable"), 1000),
}


@pytest.mark.parametrize("name", PATTERNS)
def test_no_pattern_grows_faster_than_its_input(name: str) -> None:
    assert super_linear(PATTERNS[name], ALL_CASES, 1000, screen=True) == []


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_parsing_function_grows_faster_than_its_input(name: str) -> None:
    function, size = FUNCTIONS[name]
    assert super_linear(function, FEW_CASES, size, screen=True) == []


# Each module after the ones it borrows patterns from.
PARSING_MODULES = [intake, download, postman, redaction, leaks]


@pytest.mark.parametrize("module", PARSING_MODULES, ids=lambda m: m.__name__)
def test_every_pattern_of_the_parsing_modules_is_measured(module: ModuleType) -> None:
    short = module.__name__.rsplit(".", 1)[-1]
    # A pattern a module takes from an earlier one is measured under that one's name.
    earlier = PARSING_MODULES[: PARSING_MODULES.index(module)]
    borrowed = {id(value) for other in earlier for value in vars(other).values()}
    patterns = {
        name
        for name, value in vars(module).items()
        if isinstance(value, re.Pattern) and id(value) not in borrowed
    }
    assert {f"{short}.{name}" for name in patterns} <= set(PATTERNS)


def test_the_measurement_catches_the_old_placeholder_pattern() -> None:
    """The pattern this replaced was cubic in the spaces after `{{`: it must be flagged."""
    old = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
    for screen in (True, False):
        assert super_linear(scan(old), [Case("{{", " ", "")], 12, screen=screen)


def test_the_measurement_catches_one_pass_per_character() -> None:
    """What intake did with a megabyte of `(`: strip one character, then look at all again."""

    def peel_one_at_a_time(text: str) -> str:
        while text.startswith("(") and text.count("(") > text.count(")"):
            text = text[1:]
        return text

    # Big enough that even the screen's single call lasts about a millisecond: shorter, one
    # preemption on a busy machine weighs as much as the growth it is looking for.
    for screen in (True, False):
        assert super_linear(peel_one_at_a_time, [Case("", "(", "")], 1000, screen=screen)
