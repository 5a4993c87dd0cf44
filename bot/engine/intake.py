"""Reading what a user pasted, before anything is sent anywhere.

A paste is either the Personal collection URL or a store ID with its access token. Anything else
is refused with a `PasteError` whose detail describes what was pasted, never quoting it (a paste
may be a password), and says what to copy instead.

Over 400 lines, yet one thing: every shape a paste can take, read under the same bounds to
the same answer (a URL, credentials, or a `PasteError`).
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import SplitResult, parse_qs, urlsplit

from bot.engine.catalogue import API_PLAYGROUND_URL
from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import PasteError
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials
from bot.settings import CollectionHost


@dataclass(frozen=True, slots=True)
class CollectionPaste:
    """A Personal collection URL on an allow-listed host, ready to download."""

    url: CollectionUrl


@dataclass(frozen=True, slots=True)
class CredentialsPaste:
    """A store ID and its access token, typed by the user or found in an Ecwid API address."""

    credentials: StoreCredentials


Paste: TypeAlias = CollectionPaste | CredentialsPaste

MAX_PASTE_CHARS = 2_000  # a collection URL is about 100 characters; judging stays cheap
PLAYGROUND_HOST = "api-playground.ecwid.com"
ADMIN_HOST = "my.ecwid.com"
API_HOST = "app.ecwid.com"
COLLECTION_SUFFIXES = (".postman_collection", ".json")
# A chat client may break a long URL over a few lines; more pieces than this is not one URL.
_MAX_URL_PIECES = 4

_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]"
)
_SLACK_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^\s<>|]+)(?:\|[^<>]*)?>", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»„‚‹›"
_TRAILING_PUNCTUATION = ".,;:!?"
_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_OPENER_OF = {closer: opener for opener, closer in _BRACKETS.items()}
_BRACKET_CHARACTERS = frozenset(_BRACKETS) | frozenset(_OPENER_OF)
# `normalise_paste` reads the whole text at most this many times its length (plus a little).
_MAX_PASSES_PER_CHAR = 8
_MIN_PASS_BUDGET = 256

_TOKEN_LABEL = r"(?i:bearer\s+|token\s*[=:]\s*)?"
# What a token and a store ID look like, shared with the leak guard (`bot.engine.leaks`): one
# change here changes what is accepted as a paste and what is spotted in a message.
# Every form Ecwid has issued, on every route: `secret_`, `public_`, `secure_` (older documents).
TOKEN_PREFIX = r"(?:secret|secure|public)_"
# Legacy tokens have no prefix: a long run of letters and digits with at least one of each.
LEGACY_TOKEN = r"(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{24,}"
# A whole token, as the token field takes it.
PREFIXED_TOKEN_CHARS = (20, 64)
LEGACY_TOKEN_CHARS = (24, 64)
TOKEN = re.compile(
    rf"{TOKEN_PREFIX}[A-Za-z0-9]{{{PREFIXED_TOKEN_CHARS[0]},{PREFIXED_TOKEN_CHARS[1]}}}"
    rf"|[A-Za-z0-9]{{{LEGACY_TOKEN_CHARS[0]},{LEGACY_TOKEN_CHARS[1]}}}"
)
STORE_ID = re.compile(r"[0-9]{1,12}")
_PREFIXED_TOKEN = rf"{TOKEN_PREFIX}[A-Za-z0-9]+"
_BARE_TOKEN = re.compile(rf"{_TOKEN_LABEL}(?:{_PREFIXED_TOKEN}|{LEGACY_TOKEN})")
_TOKEN_WORD = rf"(?:{TOKEN_PREFIX}[^\s,;:]+|{LEGACY_TOKEN})"
_STORE_AND_TOKEN = re.compile(
    rf"#?(?P<store_id>[0-9]+)[\s,;:]+(?P<token>{_TOKEN_WORD})"
    rf"|(?P<token_first>{_TOKEN_WORD})[\s,;:]+#?(?P<store_id_last>[0-9]+)"
)

_HOST_NAME = r"(?:[a-z0-9-]+\.)+[a-z]{2,}"
URL_LIKE = re.compile(
    rf"(?<![a-z])https?://\S+|(?<![\w@.-]){_HOST_NAME}(?![\w-]|\.\w)(?::[0-9]+)?(?:/\S*)?",
    re.IGNORECASE,
)
_VALID_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")
_SCHEMELESS_HOST = re.compile(_HOST_NAME)
_NAMEABLE_SITE = re.compile(r"[a-z0-9-]{1,23}\.[a-z]{2,24}")
_COLLECTION_PATH = re.compile(r"(?:/[A-Za-z0-9_.~%+-]+)+")
_API_PATH = re.compile(r"/api/v3/(?P<store_id>[0-9]+)(?:/.*)?")
_S3_HOST = re.compile(r"(?:[a-z0-9.-]+\.)?s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com")
_EMAIL = re.compile(r"(?:mailto:)?[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)

_COPY_STEP_2 = (
    "On the API Console page, copy the URL shown in step 2; it ends in “.json.postman_collection”."
)
_OPEN_PLAYGROUND = (
    f'Open {API_PLAYGROUND_URL} while logged in to Ecwid, click "Connect with Ecwid" and copy '
    "the URL shown in step 2."
)


def normalise_paste(text: str) -> str:
    """`text` without what chat clients and copying wrap around a value.

    Removes invisible characters, HTML entities, Slack's `<url|label>` link wrapping, and the
    whitespace, quotes, code fences, trailing punctuation and unbalanced brackets around it,
    until none is left. Never raises; normalising twice changes nothing.

    Linear in the length of `text`: the ends are peeled in place, and the passes over the whole
    text (entities nested in entities need one each) stop after a few times its length.
    """
    budget = _MAX_PASSES_PER_CHAR * len(text) + _MIN_PASS_BUDGET
    while budget >= len(text):
        budget -= len(text)
        peeled = _peel_ends(unwrap(text))
        if peeled == text:
            return text
        text = peeled
    return text


def read_paste(text: str, hosts: Sequence[CollectionHost]) -> Paste:
    """What the user pasted in the URL field or after the command, judged without any network call.

    Raises `PasteError` with the diagnosis and a detail safe to show: it never quotes the paste.
    """
    if len(text) > MAX_PASTE_CHARS:
        raise PasteError(
            Diagnosis.URL_NOT_COLLECTION,
            f"That paste is far too long to be a collection URL (over {MAX_PASTE_CHARS:,} "
            f"characters). {_COPY_STEP_2}",
        )
    cleaned = normalise_paste(text)
    if not cleaned:
        raise PasteError(Diagnosis.URL_EMPTY, f"Nothing was pasted. {_COPY_STEP_2}")
    if _BARE_TOKEN.fullmatch(cleaned):
        private = "secret_" in cleaned or "secure_" in cleaned
        kind = "public " if "public_" in cleaned else "secret " if private else ""
        raise PasteError(
            Diagnosis.URL_TOKEN_ONLY,
            f"That is a {kind}token on its own, without the store ID. Paste the Personal "
            "collection URL instead, or use the Store ID + token fields.",
        )
    if match := _STORE_AND_TOKEN.fullmatch(cleaned):
        return read_store_credentials(
            match["store_id"] or match["store_id_last"], match["token"] or match["token_first"]
        )
    return _read_address(_locate_url(cleaned, hosts), hosts)


def read_store_credentials(store_id: str, token: str) -> CredentialsPaste:
    """A store ID and access token typed separately (the custom-app method), checked for form.

    Raises `PasteError` (STORE_ID_INVALID or TOKEN_MALFORMED) naming the field to fix.
    """
    if len(store_id) > MAX_PASTE_CHARS:
        raise PasteError(
            Diagnosis.STORE_ID_INVALID,
            "The Store ID field holds far too much text: type your store's number, such as "
            "12345678.",
        )
    if len(token) > MAX_PASTE_CHARS:
        raise PasteError(
            Diagnosis.TOKEN_MALFORMED,
            "The token field holds far too much text to be a token: a token is secret_ (or "
            'public_) followed by 32 letters and digits. Copy it again with "Show secret token".',
        )
    store_id = re.sub(r"\s", "", normalise_paste(store_id)).removeprefix("#")
    token = re.sub(r"\s", "", re.sub(rf"^{_TOKEN_LABEL}", "", normalise_paste(token)))
    if not store_id:
        raise PasteError(
            Diagnosis.STORE_ID_INVALID,
            "The Store ID field is empty: type your store's number, such as 12345678.",
        )
    if not STORE_ID.fullmatch(store_id) or int(store_id) == 0:
        holds_token = _BARE_TOKEN.fullmatch(store_id) is not None
        raise PasteError(
            Diagnosis.STORE_ID_INVALID,
            "The Store ID field holds a token: put the token in the token field."
            if holds_token
            else "A Store ID is a number of up to 12 digits, such as 12345678. Find it in your "
            "Ecwid admin under Settings → General → Store profile.",
        )
    if not token:
        raise PasteError(
            Diagnosis.TOKEN_MALFORMED,
            'The token field is empty: paste your custom app\'s token ("Show secret token"); '
            "it starts with secret_.",
        )
    if not TOKEN.fullmatch(token):
        raise PasteError(Diagnosis.TOKEN_MALFORMED, _malformed_token_detail(token))
    return CredentialsPaste(StoreCredentials(int(store_id), EcwidToken(token)))


def unwrap(text: str) -> str:
    """One pass over the whole text: invisible characters, Slack links and HTML entities.

    Linear in the length of `text`."""
    # Unwrap before unescaping, as Slack escapes `<` in a label; and after, for an escaped link.
    text = _SLACK_LINK.sub(r"\1", _INVISIBLE.sub("", text))
    if "&" in text:
        text = _SLACK_LINK.sub(r"\1", html.unescape(text))
    return text


def _peel_ends(text: str) -> str:
    """`text` without the whitespace, quotes, trailing punctuation and brackets around it.

    Each round strips the ends, then removes a matching pair of brackets around the text, else
    a closing bracket at its end that has no opener, else an opening one at its start that has
    no closer. The ends move inwards and bracket counts are kept as they do, so peeling a
    megabyte of `(` costs one pass, not one pass per bracket.
    """
    start, end = 0, len(text)
    counts = dict.fromkeys(_BRACKET_CHARACTERS, 0) | Counter(
        character for character in text if character in _BRACKET_CHARACTERS
    )

    def drop(index: int) -> None:
        if text[index] in counts:
            counts[text[index]] -= 1

    while True:
        before = (start, end)
        while start < end and text[start].isspace():
            drop(start)
            start += 1
        while end > start and text[end - 1].isspace():
            drop(end - 1)
            end -= 1
        while start < end and text[start] in _QUOTES:
            drop(start)
            start += 1
        while end > start and text[end - 1] in _QUOTES:
            drop(end - 1)
            end -= 1
        while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
            end -= 1
        first, last = (text[start], text[end - 1]) if end > start else ("", "")
        if end - start >= 2 and _BRACKETS.get(first) == last:
            drop(start)
            drop(end - 1)
            start, end = start + 1, end - 1
        elif last in _OPENER_OF and counts[last] > counts[_OPENER_OF[last]]:
            drop(end - 1)
            end -= 1
        elif first in _BRACKETS and counts[first] > counts[_BRACKETS[first]]:
            drop(start)
            start += 1
        if (start, end) == before:
            return text[start:end]


def _locate_url(text: str, hosts: Sequence[CollectionHost]) -> str:
    """The part of a longer paste to judge: its one URL, or a URL broken over lines, rejoined."""
    candidates = list(dict.fromkeys(normalise_paste(url) for url in URL_LIKE.findall(text)))
    if not any(collection_paste(candidate, hosts) for candidate in candidates):
        words = text.split()
        for start, word in enumerate(words):
            if not URL_LIKE.search(word):
                continue
            for end in range(start + 2, min(start + _MAX_URL_PIECES, len(words)) + 1):
                joined = normalise_paste("".join(words[start:end]))
                if collection_paste(joined, hosts):
                    return joined
    return candidates[0] if len(candidates) == 1 else text


def _web_address(text: str) -> SplitResult | None:
    """`text` as an http(s) address, https assumed when no scheme is written; None if it is not."""
    if re.search(r"\s", text):
        return None
    try:
        url = urlsplit(text if "://" in text else f"https://{text}")
        # Reading the port also rejects a malformed one; port 0 would pass for the default.
        if url.port == 0:
            return None
    except ValueError:
        return None
    host = url.hostname or ""
    if url.scheme not in ("http", "https") or "@" in url.netloc or not _VALID_HOST.fullmatch(host):
        return None
    if "://" not in text and not _SCHEMELESS_HOST.fullmatch(host):
        return None
    return url


def _fetch_scheme(url: SplitResult, hosts: Sequence[CollectionHost]) -> str | None:
    """The scheme to download `url` with, if an allow-listed entry covers it."""
    host = url.hostname or ""
    if any(entry.allows(url.scheme, host, url.port, url.path) for entry in hosts):
        return url.scheme
    # Typing http:// for an https-only host is a slip, not a different place.
    upgradable = url.scheme == "http" and url.port in (None, 80)
    if upgradable and any(entry.allows("https", host, None, url.path) for entry in hosts):
        return "https"
    return None


def collection_paste(text: str, hosts: Sequence[CollectionHost]) -> CollectionPaste | None:
    """`text` as a collection file on an allow-listed host, or None: what a Personal collection
    URL is, for intake and for the leak guard alike."""
    url = _web_address(text)
    scheme = _fetch_scheme(url, hosts) if url is not None else None
    if url is None or scheme is None:
        return None
    if not (_COLLECTION_PATH.fullmatch(url.path) and url.path.endswith(COLLECTION_SUFFIXES)):
        return None
    port = f":{url.port}" if url.port is not None and scheme == url.scheme else ""
    # The query and fragment are dropped: the object is named by its path alone.
    return CollectionPaste(CollectionUrl(f"{scheme}://{url.hostname}{port}{url.path}"))


def paste_in_address(text: str, hosts: Sequence[CollectionHost]) -> Paste | None:
    """`text` as an address that is itself a password: a Personal collection URL on an
    allow-listed host, or an Ecwid API request carrying a store ID and its token. None for
    anything else; never raises."""
    if (paste := collection_paste(text, hosts)) is not None:
        return paste
    url = _web_address(text)
    request = _api_request(url) if url is not None else None
    if request is None:
        return None
    store_id, token = request
    if token is None:
        return None
    try:
        return read_store_credentials(store_id, token)
    except PasteError:
        return None


def _api_request(url: SplitResult) -> tuple[str, str | None] | None:
    """The store ID and token (None without one) of an Ecwid API request address."""
    if url.hostname != API_HOST or not (api_path := _API_PATH.fullmatch(url.path)):
        return None
    tokens = parse_qs(url.query).get("token")
    return api_path["store_id"], tokens[0] if tokens else None


def _read_address(text: str, hosts: Sequence[CollectionHost]) -> Paste:
    url = _web_address(text)
    if url is None:
        raise PasteError(Diagnosis.URL_NOT_COLLECTION, _not_an_address_detail(text))
    host = url.hostname or ""
    if host == PLAYGROUND_HOST:
        raise PasteError(
            Diagnosis.URL_PLAYGROUND_PAGE,
            'That is the API Playground page address. On that page click "Connect with Ecwid", '
            "then copy the URL shown in step 2 of the API Console page; it ends in "
            "“.json.postman_collection”.",
        )
    is_ecwid = host == "ecwid.com" or host.endswith(".ecwid.com")
    if host == ADMIN_HOST or (is_ecwid and "/cp/" in f"{url.path}/"):
        site = host if host in (ADMIN_HOST, API_HOST) else "ecwid.com"
        raise PasteError(
            Diagnosis.URL_ADMIN_PAGE, f"That is an Ecwid admin page ({site}). {_OPEN_PLAYGROUND}"
        )
    if (request := _api_request(url)) is not None:
        store_id, token = request
        if token is None:
            raise PasteError(
                Diagnosis.URL_NOT_COLLECTION,
                f"That is an Ecwid API request address with no token in it. {_COPY_STEP_2}",
            )
        return read_store_credentials(store_id, token)
    if _fetch_scheme(url, hosts) is not None:
        paste = collection_paste(text, hosts)
        if paste is None:
            raise PasteError(
                Diagnosis.URL_TRUNCATED,
                "That address is on Ecwid's collection storage but is cut short: a Personal "
                "collection URL ends in “.json.postman_collection”. Copy the whole URL from step 2 "
                "again.",
            )
        return paste
    if _S3_HOST.fullmatch(host):
        raise PasteError(
            Diagnosis.URL_NOT_COLLECTION,
            "That is a link to a file on Amazon S3, but not where Ecwid publishes Personal "
            f"collections. {_COPY_STEP_2}",
        )
    site = _site_name(host)
    if any(entry.host == host for entry in hosts):
        raise PasteError(
            Diagnosis.URL_NOT_COLLECTION,
            f"That is a link to {site} on a port or scheme that is not allowed for Personal "
            f"collections. {_COPY_STEP_2}",
        )
    raise PasteError(
        Diagnosis.URL_NOT_COLLECTION,
        f"That is a link to {site}, not a Personal collection URL. {_COPY_STEP_2}",
    )


def _site_name(host: str) -> str:
    """A name for `host` that is safe to show: an IP address, or its last two labels."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    last_two = ".".join(host.split(".")[-2:])
    # A label as long as a legacy token could be one, so it is not repeated.
    return last_two if _NAMEABLE_SITE.fullmatch(last_two) else "another site"


def _not_an_address_detail(text: str) -> str:
    if len(URL_LIKE.findall(text)) > 1:
        return "That text holds several links: paste only the Personal collection URL, on its own."
    what = "an email address" if _EMAIL.fullmatch(text) else "text"
    return f"That is {what}, not a web address. {_COPY_STEP_2}"


def _malformed_token_detail(token: str) -> str:
    if ".postman_collection" in token.lower():
        return (
            "That is the Personal collection URL, not a token: paste it in the URL field "
            "instead and leave Store ID and token empty."
        )
    if "://" in token:
        return (
            "That is a web address, not a token. If it is the Personal collection URL, paste it "
            "in the URL field instead."
        )
    return (
        "That is not a complete Ecwid token: a token is secret_ (or public_) followed by 32 "
        'letters and digits. Copy it again with "Show secret token".'
    )
