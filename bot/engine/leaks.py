"""Spotting a password pasted in a chat message: a Personal collection URL, an Ecwid token, or a
store ID next to its token.

What counts as each comes from intake (`bot.engine.intake`): the same collection URL it would
download, the same token forms it takes, the same store ID, so one change there changes both.
Unlike intake, the text here is anyone's message, most of them ordinary: a cheap first look
(a few substring searches and one linear scan in C) turns almost all of them away before any
word is read, and what follows stays linear in the text's length, which is capped.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.engine.errors import PasteError
from bot.engine.intake import (
    COLLECTION_SUFFIXES,
    LEGACY_TOKEN,
    LEGACY_TOKEN_CHARS,
    PREFIXED_TOKEN_CHARS,
    STORE_ID,
    TOKEN,
    TOKEN_PREFIX,
    URL_LIKE,
    CollectionPaste,
    CredentialsPaste,
    Paste,
    normalise_paste,
    paste_in_address,
    read_store_credentials,
    unwrap,
)
from bot.settings import CollectionHost

# Slack cuts a message's text at 40,000 characters; nothing past that is ever shown.
MAX_MESSAGE_CHARS = 40_000


class SecretKind(StrEnum):
    """What was pasted: each is a password to the store."""

    COLLECTION_URL = "collection_url"
    TOKEN = "token"
    STORE_AND_TOKEN = "store_and_token"


@dataclass(frozen=True, slots=True)
class SpottedSecrets:
    """The kinds of secret a message holds (in the order of `SecretKind`), and the first one
    that can be checked as it is (a collection URL, else a store ID with its token)."""

    kinds: tuple[SecretKind, ...]
    paste: Paste | None


# Text that may hold a secret: a collection file's name, or a run of letters and digits as long
# as the shortest token (a prefixed token holds one after its prefix). Looked for in the text's
# bytes with every ASCII letter and digit turned into `a` and every other byte into a space.
_SHORTEST_TOKEN_RUN = min(PREFIXED_TOKEN_CHARS[0], LEGACY_TOKEN_CHARS[0])
_ALPHANUMERIC = frozenset(string.ascii_letters.encode() + string.digits.encode())
_RUNS_ONLY = bytes(ord("a") if byte in _ALPHANUMERIC else ord(" ") for byte in range(256))
_TOKEN_LONG_RUN = b"a" * _SHORTEST_TOKEN_RUN
# Every run that could be a whole token: letters, digits and `_`, not inside a longer run.
_TOKEN_RUN = re.compile(rf"(?<![A-Za-z0-9_])[A-Za-z0-9_]{{{_SHORTEST_TOKEN_RUN},}}")
_PREFIXED = re.compile(TOKEN_PREFIX)
_LEGACY = re.compile(LEGACY_TOKEN)
# How far from a token its store ID may be written, and what may stand between the two: the
# labels people type ("Store ID: 123, token: …") and separators.
_NEARBY_CHARS = 48
_LABELS = r"(?:[\s,;:=#()\[\]*_`-]|(?i:store|id|token|access|key|bearer|secret|and|for|is))*"
_STORE_ID_BEFORE = re.compile(rf"(?<![0-9])([0-9]+){_LABELS}\Z")
_STORE_ID_AFTER = re.compile(rf"{_LABELS}([0-9]+)(?![0-9])")


def might_hold_secret(text: str) -> bool:
    """The cheap first look: False means `text` holds none of the secrets `spot_secrets` finds.

    Two substring searches, one byte translation and one more search, all in C: a 40 KB
    message costs tens of microseconds.
    """
    text = text[:MAX_MESSAGE_CHARS]
    if any(suffix in text for suffix in COLLECTION_SUFFIXES):
        return True
    return _TOKEN_LONG_RUN in text.encode("utf-8", "replace").translate(_RUNS_ONLY)


def spot_secrets(text: str, hosts: Sequence[CollectionHost]) -> SpottedSecrets | None:
    """The secrets in a message's `text` (Slack's markup included), or None when it holds none.

    Only what intake would take counts: a collection URL on an allow-listed host (`hosts`), a
    whole token of a prefixed form, or a token of any form with a store ID next to it (labels
    and separators between them), an Ecwid API address with both included. A legacy token
    without a store ID is not told from other long codes, so it does not count. Linear in the
    length of `text`, of which only the first `MAX_MESSAGE_CHARS` are read.
    """
    if not might_hold_secret(text):
        return None
    # Slack's bold markers go too: nothing secret holds a `*`, and one would cling to a URL.
    text = unwrap(text[:MAX_MESSAGE_CHARS]).replace("*", " ")
    kinds: set[SecretKind] = set()
    pastes: list[Paste] = []
    # A token inside an address already spotted is that address's.
    inside: list[tuple[int, int]] = []
    for candidate in URL_LIKE.finditer(text):
        paste = paste_in_address(normalise_paste(candidate.group()), hosts)
        if paste is not None:
            inside.append(candidate.span())
            pastes.append(paste)
            kinds.add(
                SecretKind.COLLECTION_URL
                if isinstance(paste, CollectionPaste)
                else SecretKind.STORE_AND_TOKEN
            )
    spans = iter(inside)
    span = next(spans, None)
    for run in _TOKEN_RUN.finditer(text):
        while span is not None and span[1] <= run.start():
            span = next(spans, None)
        if span is not None and span[0] <= run.start():
            continue
        token = run.group()
        prefixed = _PREFIXED.match(token) is not None
        if not TOKEN.fullmatch(token) or not (prefixed or _LEGACY.fullmatch(token)):
            continue
        credentials = _beside_store_id(text, run.start(), run.end(), token)
        if credentials is not None:
            pastes.append(credentials)
            kinds.add(SecretKind.STORE_AND_TOKEN)
        elif prefixed:
            kinds.add(SecretKind.TOKEN)
    if not kinds:
        return None
    pastes.sort(key=lambda paste: not isinstance(paste, CollectionPaste))
    ordered = tuple(kind for kind in SecretKind if kind in kinds)
    return SpottedSecrets(ordered, pastes[0] if pastes else None)


def _beside_store_id(text: str, start: int, end: int, token: str) -> CredentialsPaste | None:
    """The token at `text[start:end]` with the store ID written next to it, if there is one.

    Only a few characters on either side are read, so each token costs the same."""
    window = max(0, start - _NEARBY_CHARS)
    before = _STORE_ID_BEFORE.search(text[window:start])
    if before is not None and before.start(1) == 0 and text[window - 1 : window].isdigit():
        before = None  # the window cut a longer number
    after = _STORE_ID_AFTER.match(text[end : end + _NEARBY_CHARS])
    for found in (before, after):
        if found is None or not STORE_ID.fullmatch(found.group(1)):
            continue
        try:
            return read_store_credentials(found.group(1), token)
        except PasteError:
            continue
    return None
