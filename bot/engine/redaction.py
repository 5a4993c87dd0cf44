"""Types for the two passwords of this product, and the redaction that keeps them out of logs.

The Personal collection URL and the Ecwid access token travel as `CollectionUrl` and `EcwidToken`:
their `str()` and `repr()` are masked, so leaking one takes an explicit `.reveal()`. As a second
line of defence, `install_log_redaction()` rewrites every log record, whatever logger wrote it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

# Ecwid's token prefixes: `secret_` and `public_` today, `secure_` in older documents (a private
# token, like `secret_`). Older OAuth tokens have no prefix at all.
TOKEN_PREFIXES = ("secret_", "secure_", "public_")
PUBLIC_TOKEN_PREFIX = "public_"
# Anywhere in a word (after a letter, a quote, `%22` or `\n`), any case, `_` or `%5F`.
# `secure_` is the prefix older Ecwid documents show.
_TOKEN_PATTERN = re.compile(r"(?:secret|public|secure)(?:_|%5f)[A-Za-z0-9]{6,}", re.IGNORECASE)
# A legacy token (no prefix) can only be recognised by what introduces it.
_LABELLED_TOKEN = re.compile(
    r"""(bearer\s+|(?:access_)?token["']?\s*(?:[:=]|%3d)\s*["']?)([A-Za-z0-9._~+/=-]{16,})""",
    re.IGNORECASE,
)
# Redaction works word by word (split on what cannot be inside a URL), so it stays linear in
# the length of the text, whatever is logged.
_WORD_BOUNDARIES = re.compile(r"""([\s<>"'|`]+)""")
_TOKEN_IN_URL = re.compile(r"[?&#](?:access_)?token=", re.IGNORECASE)
# A legacy token written without any label: a long run of letters and digits holding both. A
# failed start scans fewer than 24 characters, so finding them all stays linear.
_ALPHANUMERIC_RUN = re.compile(r"[A-Za-z0-9]{24,}")
REDACTED_URL = "<collection URL redacted>"
# Texts the patterns leave unchanged, up to this many of up to this length, are remembered: a
# report's labels, the catalogue's sentences and JSON keys come back in every check.
CLEAN_CACHE_SIZE = 1024
CLEAN_CACHE_MAX_CHARS = 1000
# Nesting deeper than this in `redact_data` is replaced, not walked: no recursion without bound.
MAX_REDACTED_DEPTH = 32
_TOO_DEEP = "<nested too deep>"
# Every secret this process holds right now, so that its exact value (and its URL-encoded form)
# is redacted even where no pattern would recognise it, a `.json` collection URL for one.
_LIVE_SECRETS: weakref.WeakSet[Secret] = weakref.WeakSet()


def mask_token(token: str) -> str:
    """`secret_…a1b2`: the prefix (so people can tell secret from public) and the last 4 chars."""
    prefix, sep, rest = token.partition("_")
    if sep and f"{prefix.lower()}_" in TOKEN_PREFIXES:
        return f"{prefix}_…{rest[-4:]}" if len(rest) > 8 else f"{prefix}_…"
    return f"…{token[-4:]}" if len(token) > 12 else "…"


def _is_secret_url(word: str) -> bool:
    """A URL that may be a Personal collection or carries a token: always a password.

    That is: a path ending in `.postman_collection` or `.json` (intake accepts both), any path
    on Amazon S3 (a collection URL cut short still names the secret object), or a `token=`.
    """
    # Each rule needs a `/` (an address, a path) or an `=` (`token=`), written or `%`-encoded.
    if "/" not in word and "%" not in word and "=" not in word:
        return False
    plain = unquote(word)
    lower = plain.lower()
    suffix_at = lower.find(".postman_collection")
    # A slash before the suffix: an address, not the product's own words about one.
    if (suffix_at > 0 and "/" in plain[:suffix_at]) or _TOKEN_IN_URL.search(plain):
        return True
    address = lower.partition("://")[2] or lower
    host, slash, path = address.partition("/")
    if not slash or "." not in host:  # `src/package.json` or `/etc/x.json` name no site
        return False
    if host.endswith("amazonaws.com") and path.strip("/"):
        return True
    file = path.partition("?")[0].partition("#")[0]
    return file.endswith(".json") and len(file) > len(".json")


def _mask_unlabelled(match: re.Match[str]) -> str:
    run = match.group(0)
    has_digit = any(character.isdigit() for character in run)
    has_letter = any(character.isalpha() for character in run)
    return mask_token(run) if has_digit and has_letter else run


def redact(text: str, secrets: Iterable[Secret] = (), *, live: bool = True) -> str:
    """Remove every token and secret-bearing URL from free text.

    The one redaction of everything that leaves the process: log records, the reports the
    engine builds, and what the Slack layer and history send or store (notes, triage posts).
    `secrets` are the caller's own (a check's token and collection URL): their exact values go
    whatever their form. Besides, it knows every secret this process holds right now, `secret_`,
    `public_` and `secure_` tokens, labelled (`Bearer …`, `token=…`) and unlabelled legacy
    tokens, and collection URLs (`.postman_collection`, `.json`, any S3 object). Linear in the
    length of `text`. `live=False` skips the sweep over every live secret (it costs one search
    per secret held): for callers that pass the only secrets their text can hold.
    """
    for secret in (*secrets, *(list(_LIVE_SECRETS) if live else ())):
        for form in secret.forms:
            if form in text:
                text = text.replace(form, secret.masked)
    # The exact secrets go first, on every call. The cache only remembers that the patterns
    # below found nothing in a text, which stays true of that text whoever passes it again.
    if _CLEAN.known(text):
        return text
    redacted = _redact_patterns(text)
    if redacted == text:
        _CLEAN.remember(text)
    return redacted


def _redact_patterns(text: str) -> str:
    if "/" in text or "%" in text or "=" in text:  # else no word can be a secret URL
        words = _WORD_BOUNDARIES.split(text)
        text = "".join(REDACTED_URL if _is_secret_url(word) else word for word in words)
    text = _LABELLED_TOKEN.sub(lambda match: match.group(1) + mask_token(match.group(2)), text)
    text = _TOKEN_PATTERN.sub(
        lambda match: mask_token(match.group(0).replace("%5F", "_").replace("%5f", "_")), text
    )
    return _ALPHANUMERIC_RUN.sub(_mask_unlabelled, text)


class _CleanTexts:
    """The texts `_redact_patterns` returned unchanged, the most recently used first.

    Only clean verdicts are kept: a text in which a pattern found anything is never stored, so
    the cache holds nothing that redaction would not have let out anyway. Bounded in entries
    and in the length of each, thread-safe (log records are redacted in any thread).
    """

    def __init__(self, size: int = CLEAN_CACHE_SIZE, max_chars: int = CLEAN_CACHE_MAX_CHARS):
        self._size = size
        self._max_chars = max_chars
        self._texts: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, text: str) -> bool:
        with self._lock:
            if text not in self._texts:
                return False
            self._texts.move_to_end(text)
            return True

    def remember(self, text: str) -> None:
        if len(text) > self._max_chars:
            return
        with self._lock:
            self._texts[text] = None
            if len(self._texts) > self._size:
                self._texts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._texts)

    def clear(self) -> None:
        with self._lock:
            self._texts.clear()


_CLEAN = _CleanTexts()


def redact_data(
    value: object, secrets: Iterable[Secret] = (), *, live: bool = True, depth: int = 0
) -> Any:
    """`value` (decoded JSON: dicts, lists, strings, numbers) with every string `redact`ed.

    Keys too. Nesting deeper than `MAX_REDACTED_DEPTH` is replaced by a marker.
    """
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets, live=live)
    if isinstance(value, list | tuple | dict) and depth >= MAX_REDACTED_DEPTH:
        return _TOO_DEEP
    if isinstance(value, list | tuple):
        return [redact_data(item, secrets, live=live, depth=depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            redact(str(key), secrets, live=live): redact_data(
                item, secrets, live=live, depth=depth + 1
            )
            for key, item in value.items()
        }
    return value


class Secret:
    """A string that does not print itself (and that log redaction knows while it lives)."""

    __slots__ = ("__weakref__", "_forms", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._forms: tuple[str, ...] | None = None
        if len(value) >= 8:
            _LIVE_SECRETS.add(self)

    @property
    def forms(self) -> tuple[str, ...]:
        """The value as it may be written: plain and URL-encoded (none if too short to tell)."""
        if self._forms is None:
            value = self._value
            forms = {value, quote(value, safe=""), quote(value)} if len(value) >= 8 else set()
            self._forms = tuple(forms)
        return self._forms

    def reveal(self) -> str:
        """The plain value, for the one place that must send it (an HTTP request)."""
        return self._value

    @property
    def masked(self) -> str:
        return "****"

    @property
    def fingerprint(self) -> str:
        """A stable, one-way name for the secret (cool-downs, deduplication); never reversible."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:32]

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.reveal() == self._value

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class EcwidToken(Secret):
    """An Ecwid REST API access token: `secret_…`, `public_…`, `secure_…` (older documents) or a
    legacy OAuth token without prefix."""

    __slots__ = ()

    @property
    def masked(self) -> str:
        return mask_token(self._value)

    @property
    def is_public(self) -> bool:
        """A `public_` token: read-only, enabled products and categories, a limited profile."""
        return self._value.startswith(PUBLIC_TOKEN_PREFIX)

    @property
    def is_secret(self) -> bool:
        """Any private token (`secret_`, `secure_`, legacy): it sees the whole store."""
        return not self.is_public


class CollectionUrl(Secret):
    """A Personal collection URL: whoever holds it can read the token inside."""

    __slots__ = ()

    @property
    def masked(self) -> str:
        parts = urlsplit(self._value)
        return f"{parts.scheme}://{parts.netloc}/…"

    @property
    def host(self) -> str:
        return urlsplit(self._value).hostname or ""


class _RedactingRecordFactory:
    """Wraps the logging record factory so every record is redacted once, at creation."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.wrapped(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            # The traceback's frames hold URLs and headers; handlers that format exc_info
            # themselves would bypass the redacted text.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record


def install_log_redaction() -> None:
    """Redact tokens and collection URLs from every log record of this process (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingRecordFactory):
        logging.setLogRecordFactory(_RedactingRecordFactory(factory))


class StoreCredentials:
    """What the Ecwid checks need: a store ID and its access token."""

    __slots__ = ("store_id", "token")

    def __init__(self, store_id: int, token: EcwidToken) -> None:
        self.store_id = store_id
        self.token = token

    def __repr__(self) -> str:
        return f"StoreCredentials(store_id={self.store_id}, token={self.token.masked!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreCredentials) and (other.store_id, other.token) == (
            self.store_id,
            self.token,
        )

    def __hash__(self) -> int:
        return hash((self.store_id, self.token))
