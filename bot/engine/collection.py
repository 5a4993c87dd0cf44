"""Download a Personal collection from Ecwid's storage and read the store ID and token out of it.

Both halves treat their input as hostile: the URL is whatever a user pasted, the file whatever the
server answered. A download reaches only allow-listed hosts on public addresses, within bounds on
redirects, bytes and time; parsing accepts any JSON at all. Every failure is a `CollectionError`
whose detail never holds the URL's path or query, nor the token.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import contextvars
import ipaddress
import itertools
import json
import re
import socket
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote

import aiohttp
import aiohttp.abc
import httpx

from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import CollectionError
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials
from bot.engine.transport import get_request
from bot.settings import CollectionHost

MAX_COLLECTION_BYTES = 2 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_REDIRECTS = 3
MAX_FOLDER_DEPTH = 32
# A Personal collection holds about ten requests; the first thousand are more than enough to
# find the store ID and token, and reading no more bounds the work of a huge file.
MAX_REQUESTS = 1_000
# About 150 in a Personal collection; more means a different file, refused before decoding.
MAX_JSON_VALUES = 20_000

_STORAGE = "Ecwid's storage"
_GZIP_MAGIC = b"\x1f\x8b"
# Only gzip is asked for: it is the one encoding decoded here, with a bound on the output.
_REQUEST_HEADERS = [(b"accept-encoding", b"gzip")]
_TEMPORARY_CLIENT_ERRORS = frozenset({408, 429})

_T = TypeVar("_T")
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- Download ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


async def download_collection(
    url: CollectionUrl,
    client: httpx.AsyncClient,
    hosts: Sequence[CollectionHost],
    *,
    timeout: httpx.Timeout = DOWNLOAD_TIMEOUT,  # noqa: ASYNC109 - httpx's per-phase limits
) -> bytes:
    """Download the Personal collection at `url` with the shared `client`; return its bytes.

    Only hosts that `hosts` allows are contacted, each on public addresses only unless its entry
    names an explicit port (the local sandbox). At most `MAX_REDIRECTS` redirects are followed,
    each checked the same way. The body is returned gzip-decoded and at most
    `MAX_COLLECTION_BYTES` long. Raises `CollectionError` for every failure.
    """
    target = _parse_url(url.reveal())
    entry = _allowed_entry(target, hosts) if target is not None else None
    if target is None or entry is None:
        raise CollectionError(
            Diagnosis.URL_NOT_COLLECTION,
            "The URL is not on a host where Ecwid publishes Personal collections.",
        )
    for _ in range(MAX_REDIRECTS + 1):
        if entry.explicit_port:
            answer = await _fetch(client, target, timeout)
        else:
            vetted = await _public_addresses(target, timeout)
            # The connection goes to these very addresses: a name that answers differently the
            # second time (DNS rebinding) cannot lead it to a private one.
            with pinned_addresses(target.host, vetted):
                answer = await _fetch(client, target, timeout)
        if not isinstance(answer, _Redirect):
            return answer
        target, entry = _follow(target, answer.location, hosts)
    raise CollectionError(
        Diagnosis.COLLECTION_INVALID, f"{_STORAGE} redirected more than {MAX_REDIRECTS} times."
    )


def _parse_url(text: str) -> httpx.URL | None:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return None
    # A collection URL never carries credentials; httpx would send them as Basic auth.
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        return None
    return url


def _allowed_entry(url: httpx.URL, hosts: Sequence[CollectionHost]) -> CollectionHost | None:
    return next(
        (entry for entry in hosts if entry.allows(url.scheme, url.host, url.port, url.path)), None
    )


def _follow(
    current: httpx.URL, location: str, hosts: Sequence[CollectionHost]
) -> tuple[httpx.URL, CollectionHost]:
    try:
        target = _parse_url(str(current.join(location)))
    except (httpx.InvalidURL, ValueError):  # IDNA errors are `UnicodeError`, a `ValueError`
        target = None
    entry = _allowed_entry(target, hosts) if target is not None else None
    if target is None or entry is None:
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID, "The download was redirected away from Ecwid's storage."
        )
    return target, entry


async def _public_addresses(url: httpx.URL, timeouts: httpx.Timeout) -> tuple[IPAddress, ...]:
    """The addresses `url`'s host resolves to, if every one of them is public."""
    addresses = await _addresses(url, timeouts)
    for address in addresses:
        if _is_internal(address):
            raise CollectionError(
                Diagnosis.COLLECTION_UNREACHABLE,
                f"{url.host} points to a private or local network address; "
                "collections are only downloaded from public addresses.",
            )
    return tuple(dict.fromkeys(addresses))


# --- Pinned name resolution -------------------------------------------------------------------

# Host name (lower case) → the addresses the running download vetted, for this task only.
_PINNED: contextvars.ContextVar[dict[str, tuple[IPAddress, ...]] | None] = contextvars.ContextVar(
    "pinned_addresses", default=None
)


@contextlib.contextmanager
def pinned_addresses(host: str, addresses: tuple[IPAddress, ...]) -> Iterator[None]:
    """While inside, `PinnedResolver` answers `host` with `addresses` alone, in this task."""
    reset = _PINNED.set({**(_PINNED.get() or {}), host.lower(): addresses})
    try:
        yield
    finally:
        _PINNED.reset(reset)


class PinnedResolver(aiohttp.abc.AbstractResolver):
    """The resolver of the shared HTTP client: a pinned name gets the vetted addresses only.

    A collection download resolves its host once, refuses private addresses, then pins what it
    vetted (`pinned_addresses`); connecting then never asks DNS again. Every other name is
    resolved by `fallback` (getaddrinfo in a thread by default). The connector must not cache
    names (`use_dns_cache=False`), or a cached answer would bypass the pin.
    """

    def __init__(self, fallback: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._fallback = fallback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        addresses = (_PINNED.get() or {}).get(host.lower())
        if addresses is None:
            if self._fallback is None:
                self._fallback = aiohttp.ThreadedResolver()
            return await self._fallback.resolve(host, port, family)
        results: list[aiohttp.abc.ResolveResult] = []
        for address in addresses:
            kind = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append(
                    {
                        "hostname": host,
                        "host": str(address),
                        "port": port,
                        "family": kind,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                )
        if not results:
            raise OSError(f"{host} has no vetted address of the family asked for")
        return results

    async def close(self) -> None:
        if self._fallback is not None:
            await self._fallback.close()


async def _addresses(url: httpx.URL, timeouts: httpx.Timeout) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(url.host)]
    except ValueError:
        pass
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        async with asyncio.timeout(timeouts.connect):
            infos = await asyncio.get_running_loop().getaddrinfo(
                url.host, port, type=socket.SOCK_STREAM
            )
        addresses = [
            ipaddress.ip_address(sockaddr[0])
            for family, _, _, _, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)
        ]
    except TimeoutError:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE, f"Looking up {url.host} took too long."
        ) from None
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE, f"{url.host} could not be looked up."
        )
    return addresses


def _is_internal(address: IPAddress) -> bool:
    # `is_global` already excludes private, loopback, link-local, unspecified and shared
    # (100.64/10) ranges, IPv4-mapped IPv6 included; multicast and IPv6's reserved blocks pass it.
    return not address.is_global or address.is_multicast or address.is_reserved


async def _fetch(
    client: httpx.AsyncClient, url: httpx.URL, timeouts: httpx.Timeout
) -> bytes | _Redirect:
    # Errors are re-raised `from None`: httpx messages and tracebacks carry the URL.
    request = get_request(client, url, _REQUEST_HEADERS, {"timeout": timeouts.as_dict()})
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            return await _read_answer(response)
        finally:
            await response.aclose()
    except httpx.TimeoutException as error:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} did not answer in time ({type(error).__name__}).",
        ) from None
    except (httpx.InvalidURL, ValueError):
        # httpx builds the next request of a redirect even when not following it, and raises
        # on a malformed `Location` (`http:x`, a bad IDNA name) before the answer is seen.
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID,
            f"{_STORAGE} redirected the download to a malformed address.",
        ) from None
    except (httpx.HTTPError, aiohttp.ClientError, OSError) as error:
        # aiohttp's own errors (a garbled status line, say) pass the httpx transport unmapped.
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} could not be reached ({type(error).__name__}).",
        ) from None


async def _read_answer(response: httpx.Response) -> bytes | _Redirect:
    status = response.status_code
    if status == 200:
        body = await _read_capped(response)
        return _decompressed(body, response.headers.get("Content-Encoding", ""))
    if 300 <= status < 400:
        location = response.headers.get("Location")
        if location:
            return _Redirect(location)
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID,
            f"{_STORAGE} answered HTTP {status} without saying where the file went.",
        )
    if status >= 500 or status in _TEMPORARY_CLIENT_ERRORS:
        raise CollectionError(
            Diagnosis.COLLECTION_UNREACHABLE,
            f"{_STORAGE} answered HTTP {status}: it failed or is overloaded for now.",
        )
    if status >= 400:
        # S3 answers 403 AccessDenied, not 404, for a missing object when listing is off.
        raise CollectionError(
            Diagnosis.COLLECTION_NOT_FOUND,
            f"{_STORAGE} answered HTTP {status}: there is no file at this address.",
        )
    raise CollectionError(
        Diagnosis.COLLECTION_INVALID, f"{_STORAGE} answered HTTP {status} instead of the file."
    )


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_COLLECTION_BYTES:
            raise _too_large()
    return bytes(body)


def _decompressed(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        body = _gunzip(body)
    elif encoding not in ("", "identity"):
        raise CollectionError(
            Diagnosis.COLLECTION_INVALID, "The file is compressed in an unsupported way."
        )
    # An object uploaded gzipped but without Content-Encoding is served compressed as is.
    if body.startswith(_GZIP_MAGIC):
        body = _gunzip(body)
    return body


def _gunzip(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        # `max_length` bounds the output whatever the ratio, so a tiny gzip bomb stays harmless.
        plain = decompressor.decompress(data, MAX_COLLECTION_BYTES + 1)
    except zlib.error:
        raise _damaged_gzip() from None
    if len(plain) > MAX_COLLECTION_BYTES:
        raise _too_large()
    if not decompressor.eof:
        raise _damaged_gzip()
    return plain


def _damaged_gzip() -> CollectionError:
    return CollectionError(
        Diagnosis.COLLECTION_INVALID, "The file is gzip-compressed but damaged or cut short."
    )


def _too_large() -> CollectionError:
    return CollectionError(
        Diagnosis.COLLECTION_INVALID,
        f"The file is larger than {MAX_COLLECTION_BYTES // (1024 * 1024)} MiB, "
        "so it is not a Personal collection.",
    )


# --- Parsing ----------------------------------------------------------------------------------

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
    resolve = _Resolver(collection.variables)
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


class _Resolver:
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


def _examine(request: _RawRequest, resolve: _Resolver) -> _Found:
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


def _auth_tokens(auth: object, resolve: _Resolver) -> tuple[str, ...]:
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
