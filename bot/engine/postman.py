"""Read the store ID and access token out of a Postman collection (v1, v2.0, v2.1).

The file is whatever a server answered: any JSON at all is accepted without a crash, in time
linear in its size, and every failure is a `CollectionError` whose detail never holds the token.
Downloading it is `bot.engine.download`'s job. Over 400 lines, yet one thing: every Postman
format's shapes, read to the same two values under the same bounds.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, unquote

from bot.engine.diagnosis import Diagnosis
from bot.engine.download import MAX_COLLECTION_BYTES
from bot.engine.errors import CollectionError
from bot.engine.redaction import EcwidToken, StoreCredentials

MAX_FOLDER_DEPTH = 32
# A Personal collection holds about ten requests; the first thousand are more than enough to
# find the store ID and token, and reading no more bounds the work of a huge file.
MAX_REQUESTS = 1_000
# About 150 in a Personal collection; more means a different file, refused before decoding.
MAX_JSON_VALUES = 20_000
# A downloaded file this small without `{{` is parsed on the event loop (see `parses_quickly`).
INLINE_PARSE_BYTES = 16 * 1024

_T = TypeVar("_T")

_STORE_ID_IN_URL = re.compile(r"/api/v3/([1-9][0-9]{0,14})(?=[/?#]|$)")
_STORE_ID_TEXT = re.compile(r"[1-9][0-9]{0,14}")
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_.~+/=-]{8,256}")
# Linear: a start at one `{{` scans only to the next brace, so no two starts scan the same text.
# The name is stripped in code (`\s*` on both sides of a lazy name would be cubic in spaces).
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_PATH_VARIABLE = re.compile(r"/:([A-Za-z_][A-Za-z0-9_-]*)")
_STORE_ID_VARIABLES = frozenset({"storeid", "ecwidstoreid"})
_TOKEN_VARIABLES = frozenset({"token", "accesstoken", "ecwidtoken", "ecwidtokensecret"})
# Postman v1's names for auth helpers, mapped to the v2 auth types read below.
_LEGACY_AUTH = {"bearerAuth": "bearer", "apikeyAuth": "apikey", "oAuth2": "oauth2"}
_AUTH_TOKEN_PARAMETER = {"bearer": "token", "apikey": "value", "oauth2": "accessToken"}
# Bounds that keep `{{var}}` resolution linear whatever the variables refer to.
_MAX_RESOLVE_PASSES = 5
_MAX_PLACEHOLDERS_PER_PASS = 16
_MAX_VARIABLE_CHARS = 2048
_MAX_RESOLVED_CHARS = 16384
# What resolving may write in all for one collection: a valid 2 MiB file of 67k `{{a}}` requests,
# each expanding to 32 KB, would otherwise mean gigabytes of work. Past it, text stays unresolved.
MAX_EXPANDED_CHARS = 4 * MAX_COLLECTION_BYTES


@dataclass(frozen=True, slots=True)
class _RawRequest:
    """One request as the collection writes it, whatever the Postman format."""

    urls: tuple[str, ...]
    query: tuple[tuple[str, str], ...]
    path_variables: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    auth: object


@dataclass(frozen=True, slots=True)
class _RawCollection:
    requests: tuple[_RawRequest, ...]
    auth: object
    variables: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Found:
    """The store IDs and tokens that one request names, by where they were written."""

    store_ids: tuple[int, ...]
    query_tokens: tuple[str, ...]
    header_tokens: tuple[str, ...]
    auth_tokens: tuple[str, ...]


def parse_collection(body: bytes, *, deadline: float | None = None) -> StoreCredentials:
    """Read the store ID and access token out of a Postman collection (v1, v2.0 or v2.1).

    `{{variables}}` are resolved first. The store ID comes from `/api/v3/<id>` in a request URL,
    else from a variable such as `storeId`; the token from a `token=` query parameter, else an
    `Authorization: Bearer` header, else request-level then collection-level auth, else a variable
    such as `token`. When requests disagree, the value most of them use wins. Raises
    `CollectionError` (`COLLECTION_INVALID` or `CREDENTIALS_MISSING`) for anything else.

    The work is linear in the size of `body`, whatever it holds, so it may run in a worker
    thread; past `deadline` (a `time.monotonic()` value) it stops with `CHECK_TIMEOUT`.
    """
    collection = _read_collection(_load_object(body))
    resolve = _Variables(collection.variables)
    found = []
    for request in collection.requests:
        if deadline is not None and time.monotonic() > deadline:
            raise CollectionError(
                Diagnosis.CHECK_TIMEOUT, "Reading the collection took longer than the check may."
            )
        found.append(_examine(request, resolve))
    store_id = _most_agreed(
        [item.store_ids for item in found],
        [_unique(_store_id(value) for value in resolve.named(_STORE_ID_VARIABLES))],
    )
    token = _most_agreed(
        [item.query_tokens for item in found],
        [item.header_tokens for item in found],
        [item.auth_tokens for item in found],
        [_auth_tokens(collection.auth, resolve)],
        [_unique(_token(value) for value in resolve.named(_TOKEN_VARIABLES))],
    )
    if store_id is None or token is None:
        raise CollectionError(
            Diagnosis.CREDENTIALS_MISSING, _missing_detail(store_id, token, len(found))
        )
    return StoreCredentials(store_id, EcwidToken(token))


def parses_quickly(body: bytes) -> bool:
    """Whether parsing `body` is bounded well below the event loop's lag budget (50 ms).

    Parsing is linear in the file (tests/engine/test_linear_time.py) except for `{{variable}}`
    expansion, whose budget is the same for any file. So: at most `INLINE_PARSE_BYTES` (about
    5 ms of parsing for the worst such file measured, 3 times a Personal collection's 5 KB),
    and no `{{` after decoding: none written, no JSON `\\u` escape (which could write one),
    and no NUL byte (UTF-16 and UTF-32, where `{{` is not two bytes in a row).
    """
    return (
        len(body) <= INLINE_PARSE_BYTES
        and b"{{" not in body
        and b"\\u" not in body
        and b"\0" not in body
    )


def _not_postman(reason: str) -> CollectionError:
    return CollectionError(Diagnosis.COLLECTION_INVALID, f"Not a Postman collection: {reason}.")


def _missing_detail(store_id: int | None, token: str | None, request_count: int) -> str:
    if store_id is None and token is None:
        missing = "no store ID and no access token"
    elif store_id is None:
        missing = "no store ID"
    else:
        missing = "no access token"
    suffix = " (it holds no requests)" if request_count == 0 else ""
    return f"The collection names {missing}{suffix}."


def _load_object(body: bytes) -> dict[str, object]:
    if body.startswith(codecs.BOM_UTF8):
        body, encoding = body[len(codecs.BOM_UTF8) :], "utf-8"
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        raise _not_postman("the file is not UTF-8 or UTF-16 text") from None
    if text.lstrip().startswith("<"):
        raise _not_postman("the file is an HTML or XML page")
    # Decoding JSON is one call that holds the interpreter for as long as it takes, worker
    # thread or not: an upper bound on the values it would create keeps that short.
    if text.count(",") + text.count("{") + text.count("[") > MAX_JSON_VALUES:
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID,
            f"The file holds over {MAX_JSON_VALUES:,} values, far more than a Personal "
            "collection does.",
        )
    try:
        document = json.loads(text)
    except ValueError:
        raise _not_postman("the file is not JSON") from None
    except RecursionError:  # the decoder recurses per level; Python's limit bounds it
        raise _not_postman("its JSON nests deeper than any collection does") from None
    if not isinstance(document, dict):
        raise _not_postman("the JSON is not an object")
    # Postman's own API wraps a collection as {"collection": {...}}.
    wrapped = document.get("collection")
    return wrapped if isinstance(wrapped, dict) else document


def _read_collection(document: dict[str, object]) -> _RawCollection:
    variables = dict(_pairs(document.get("variable")) + _pairs(document.get("variables")))
    usable = {name: value for name, value in variables.items() if len(value) <= _MAX_VARIABLE_CHARS}
    if isinstance(document.get("item"), list) or _has_v2_schema(document.get("info")):
        v2 = _v2_requests(_list(document.get("item")), None, depth=0)
        return _RawCollection(
            tuple(itertools.islice(v2, MAX_REQUESTS)), document.get("auth"), usable
        )
    if isinstance(document.get("requests"), list):
        v1 = (_v1_request(item) for item in _dicts(document.get("requests")))
        return _RawCollection(tuple(itertools.islice(v1, MAX_REQUESTS)), _v1_auth(document), usable)
    raise _not_postman("it has neither Postman's `item` nor `requests` list")


def _has_v2_schema(info: object) -> bool:
    schema = info.get("schema") if isinstance(info, dict) else None
    return isinstance(schema, str) and "postman.com" in schema


def _v2_requests(items: list[object], inherited_auth: object, depth: int) -> Iterator[_RawRequest]:
    if depth > MAX_FOLDER_DEPTH:
        raise _not_postman(f"its folders nest more than {MAX_FOLDER_DEPTH} levels deep")
    for item in _dicts(items):
        children = item.get("item")
        if isinstance(children, list):
            folder_auth = _effective_auth(item.get("auth"), inherited_auth)
            yield from _v2_requests(children, folder_auth, depth + 1)
            continue
        request = item.get("request")
        if isinstance(request, str):
            request = {"url": request}
        if isinstance(request, dict):
            yield _v2_request(request, inherited_auth)


def _v2_request(request: dict[str, object], inherited_auth: object) -> _RawRequest:
    url = request.get("url")
    urls: tuple[str, ...]
    if isinstance(url, dict):
        raw = url.get("raw")
        path = url.get("path")
        segments = [path] if isinstance(path, str) else [_segment(part) for part in _list(path)]
        urls = (raw if isinstance(raw, str) else "", "/" + "/".join(segments))
        query = _pairs(url.get("query"))
        path_variables = _pairs(url.get("variable"))
    else:
        urls, query, path_variables = (url if isinstance(url, str) else "",), [], []
    return _RawRequest(
        urls=urls,
        query=tuple(query),
        path_variables=tuple(path_variables),
        headers=tuple(_headers(request.get("header"))),
        auth=_effective_auth(request.get("auth"), inherited_auth),
    )


def _segment(part: object) -> str:
    if isinstance(part, dict):
        part = part.get("value")
    return part if isinstance(part, str) else ""


def _effective_auth(own: object, inherited: object) -> object:
    """Postman's inheritance: a missing or `inherit` auth means the parent's."""
    if isinstance(own, dict) and own.get("type") not in (None, "inherit"):
        return own
    return inherited


def _v1_request(request: dict[str, object]) -> _RawRequest:
    url = request.get("url")
    return _RawRequest(
        urls=(url if isinstance(url, str) else "",),
        query=tuple(_pairs(request.get("queryParams"))),
        path_variables=tuple(
            _pairs(request.get("pathVariables")) + _pairs(request.get("pathVariableData"))
        ),
        headers=tuple(_headers(request.get("headers")) + _headers(request.get("headerData"))),
        auth=_v1_auth(request),
    )


def _v1_auth(entity: dict[str, object]) -> object:
    """A v1 entity's auth in v2 shape: newer exports write `auth`, older ones a helper."""
    if isinstance(entity.get("auth"), dict):
        return entity["auth"]
    helper = entity.get("currentHelper")
    attributes = entity.get("helperAttributes")
    if isinstance(attributes, str):  # some old Postman apps wrote the attributes as JSON text
        try:
            attributes = json.loads(attributes)
        except (ValueError, RecursionError):
            return None
    kind = _LEGACY_AUTH.get(helper) if isinstance(helper, str) else None
    if kind is None or not isinstance(attributes, dict):
        return None
    return {"type": kind, kind: attributes}


def _headers(value: object) -> list[tuple[str, str]]:
    """Headers as a list of `{key, value}` or as v1's raw text, one `Key: value` a line."""
    if not isinstance(value, str):
        return _pairs(value)
    headers = []
    for line in value.splitlines():
        name, colon, content = line.partition(":")
        # v1 comments a disabled header out with a leading `//`.
        if colon and not name.lstrip().startswith("//"):
            headers.append((name.strip(), content.strip()))
    return headers


def _pairs(value: object) -> list[tuple[str, str]]:
    """Enabled `(name, value)` pairs from a `{name: value}` dict or a list of `{key, value}`."""
    if isinstance(value, dict):
        entries: Iterable[tuple[object, object]] = value.items()
    else:
        entries = (
            (entry.get("key", entry.get("id")), entry.get("value"))
            for entry in _dicts(value)
            if entry.get("disabled") is not True and entry.get("enabled") is not False
        )
    pairs = []
    for name, content in entries:
        text = _scalar_text(content)
        if isinstance(name, str) and text is not None:
            pairs.append((name, text))
    return pairs


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dicts(value: object) -> list[dict[str, object]]:
    return [entry for entry in _list(value) if isinstance(entry, dict)]


class _Variables:
    """Replaces `{{name}}` with the collection variable's value, nested references included."""

    def __init__(self, variables: dict[str, str], budget: int = MAX_EXPANDED_CHARS) -> None:
        self._variables = variables
        # Characters every pass reads and writes, for the whole collection: bounds the total work.
        self._budget = budget

    def __call__(self, text: str) -> str:
        for _ in range(_MAX_RESOLVE_PASSES):
            if len(text) > _MAX_RESOLVED_CHARS or "{{" not in text or self._budget <= 0:
                break
            resolved = _PLACEHOLDER.sub(self._lookup, text, count=_MAX_PLACEHOLDERS_PER_PASS)
            self._budget -= len(text) + len(resolved)
            if resolved == text:
                break
            text = resolved
        return text

    def named(self, names: frozenset[str]) -> list[str]:
        """The resolved values of the variables called one of `names` (any case, `_` or `-`)."""
        return [
            self(value)
            for name, value in self._variables.items()
            if re.sub(r"[^a-z0-9]", "", name.lower()) in names
        ]

    def _lookup(self, match: re.Match[str]) -> str:
        name = match.group(1).strip()
        return self._variables.get(name, match.group(0)) if name else match.group(0)


def _examine(request: _RawRequest, resolve: _Variables) -> _Found:
    path_variables = {name: resolve(value) for name, value in request.path_variables}
    urls = [_fill_path_variables(resolve(url), path_variables) for url in request.urls]
    query = [(name, unquote(resolve(value))) for name, value in request.query]
    query += [pair for url in urls for pair in parse_qsl(url.partition("?")[2].partition("#")[0])]
    return _Found(
        store_ids=_unique(
            int(match.group(1)) for url in urls for match in _STORE_ID_IN_URL.finditer(url)
        ),
        query_tokens=_unique(_token(value) for name, value in query if name.lower() == "token"),
        header_tokens=_unique(
            _bearer(resolve(value))
            for name, value in request.headers
            if name.lower() == "authorization"
        ),
        auth_tokens=_auth_tokens(request.auth, resolve),
    )


def _fill_path_variables(url: str, values: dict[str, str]) -> str:
    """Postman's `/:name` path segments, filled in from the request's path variables."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else f"/{value}"

    return _PATH_VARIABLE.sub(fill, url)


def _auth_tokens(auth: object, resolve: _Variables) -> tuple[str, ...]:
    """The token of a bearer, API key or OAuth 2 auth block, in v2.0 or v2.1 shape."""
    if not isinstance(auth, dict):
        return ()
    kind = auth.get("type")
    parameter = _AUTH_TOKEN_PARAMETER.get(kind) if isinstance(kind, str) else None
    if parameter is None:
        return ()
    value = _auth_parameters(auth.get(kind)).get(parameter)
    return _unique([_token(resolve(value))] if isinstance(value, str) else [])


def _auth_parameters(block: object) -> dict[str, object]:
    """v2.0 writes auth parameters as an object, v2.1 as a list of `{key, value}`."""
    if isinstance(block, dict):
        return block
    parameters: dict[str, object] = {}
    for entry in _dicts(block):
        key = entry.get("key")
        if isinstance(key, str):
            parameters[key] = entry.get("value")
    return parameters


def _bearer(header: str) -> str | None:
    scheme, _, credentials = header.strip().partition(" ")
    return _token(credentials) if scheme.lower() == "bearer" else None


def _token(value: str) -> str | None:
    """The token in `value` (an optional `Bearer ` prefix dropped), unless it is no token at all.

    An unresolved `{{placeholder}}`, free text or an empty string is not a credential.
    """
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text if _TOKEN_TEXT.fullmatch(text) else None


def _store_id(value: str) -> int | None:
    text = value.strip()
    return int(text) if _STORE_ID_TEXT.fullmatch(text) else None


def _unique(values: Iterable[_T | None]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(value for value in values if value is not None))


def _most_agreed(*tiers: list[tuple[_T, ...]]) -> _T | None:
    """The value most groups of the first non-empty tier name; ties go to the first seen."""
    for groups in tiers:
        counts = Counter(value for group in groups for value in group)
        if counts:
            return counts.most_common(1)[0][0]
    return None
