"""httpx as the interface, aiohttp underneath, without the CPU the glue between them wastes.

Profiling a check showed that httpx on the stock `AiohttpTransport` spent about as much CPU as
aiohttp itself: the request's headers were handed to aiohttp as an `httpx.Headers` mapping,
which aiohttp reads key by key (each lookup scans every header), and every response went through
httpx's cookie jar, which rebuilds the request and the response as `urllib` and `email` objects
to look for a `Set-Cookie`. Here the headers go over as the list of pairs they are, and the
client keeps no cookies: a check never needs one, and one store's cookies from S3 or Ecwid must
not ride along with the next person's check anyway.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from aiohttp import BasicAuth, ClientResponse, ClientSession, ClientTimeout
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from yarl import URL


class _NoCookies(httpx.Cookies):
    """A cookie jar that stays empty: nothing is stored, so nothing is ever sent."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class CookielessClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that neither stores nor sends cookies (a request's own
    `cookies=` still go out, as httpx merges them into the request itself)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("this client keeps no cookies")


class LeanAiohttpTransport(AiohttpTransport):
    """`AiohttpTransport`, handing aiohttp the URL and headers in the forms it reads fastest,
    and reading the answer without a generator and a context manager around every chunk."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # httpx's time-outs (connect, read, pool) → aiohttp's: a check uses two or three kinds.
        self._timeouts: dict[tuple[float | None, float | None, float | None], ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        extensions = request.extensions
        proxy = self.proxy
        try:
            response = await self.client.request(
                method=request.method,
                # httpx has already normalised and percent-encoded it: no second pass.
                url=URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(extensions.get("timeout")),
                server_hostname=extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            ).__aenter__()
        except Exception:
            with map_aiohttp_exceptions():
                raise
        reason = response.reason
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AnswerStream(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode()}
            if reason
            else {"http_version": b"HTTP/1.1"},
        )

    def _timeout(self, timeout: dict[str, float | None] | None) -> ClientTimeout:
        timeout = timeout or {}
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        cached = self._timeouts.get(key)
        if cached is None:
            if len(self._timeouts) >= _MAX_TIMEOUTS:
                self._timeouts.clear()
            cached = self._timeouts[key] = ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return cached


# Distinct time-outs kept converted (a caller varying them per request just converts again).
_MAX_TIMEOUTS = 64


class _AnswerStream(httpx.AsyncByteStream):
    """An aiohttp answer's body, chunk by chunk as it arrives (`AiohttpResponseStream`'s
    job, without an async generator and a context manager entered for every answer)."""

    __slots__ = ("_response",)

    def __init__(self, response: ClientResponse) -> None:
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.content.readany()
        except Exception:
            with map_aiohttp_exceptions():
                raise
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        try:
            await self._response.__aexit__(None, None, None)
        except Exception:
            with map_aiohttp_exceptions():
                raise


_NO_BODY = httpx.ByteStream(b"")


def get_request(
    client: httpx.AsyncClient,
    url: httpx.URL,
    headers: list[tuple[bytes, bytes]],
    extensions: dict[str, Any],
) -> httpx.Request:
    """The GET `client.build_request("GET", url, headers=…, extensions=…)` builds for an
    absolute `url` (on a client that keeps cookies, that is what it returns), built once.

    `build_request` parses the URL again, merges the client's headers through three
    `httpx.Headers`, and `httpx.Request` rebuilds them once more to add `Host`. Here the
    client's headers are taken as bytes, those in `headers` (names in lower case) win, `Host`
    is added as httpx adds it, and the request gets no body (`stream=`, then read, as httpx
    does for a body-less GET: `content` is `b""`).
    """
    if client.cookies:  # not the engine's client: let httpx merge them as it does
        return client.build_request("GET", url, headers=headers, extensions=extensions)
    own = {name.lower() for name, _ in headers}
    merged = [(b"Host", url.netloc)]
    merged += [(name, value) for name, value in client.headers.raw if name.lower() not in own]
    merged += headers
    request = httpx.Request("GET", url, headers=merged, stream=_NO_BODY, extensions=extensions)
    request.read()
    return request


async def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The raw (not decoded) body of a streamed `response`, or None past `limit` bytes, in
    which case the rest is never read. Close the response afterwards."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def gunzip_capped(data: bytes, limit: int) -> bytes | None:
    """`data` gzip-decoded, or None when it would be longer than `limit` bytes: the output is
    bounded whatever the ratio, so a tiny gzip bomb stays harmless. Raises `ValueError` when
    `data` is damaged or cut short."""
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        plain = decompressor.decompress(data, limit + 1)
    except zlib.error:
        raise ValueError("damaged gzip data") from None
    if len(plain) > limit:
        return None
    if not decompressor.eof:
        raise ValueError("gzip data cut short")
    return plain


# What httpx leaves exactly as it is in a path and in a query (no quoting, no normalising).
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9._~=&-]*")


def join_url(base: httpx.URL, path: str, query: str | None = None) -> httpx.URL:
    """`base` with `path` appended to its path (a trailing `/` of it dropped) and `query` as its
    query (its own query and fragment dropped): `httpx.URL(f"{base}{path}?{query}")` for a
    plain base, without parsing and validating the whole URL again, character by character.

    The shortcut uses httpx's parsed form (`URL._uri_reference`, a named tuple of the parts
    already normalised): it is taken only when `path` is `/`-separated segments of letters,
    digits and `._~-` (none starting with a dot) and `query` is letters, digits and `._~=&-`,
    which httpx keeps exactly as they are. Anything else goes through `httpx.URL`.
    tests/engine/test_transport.py pins both to `httpx.URL(str)`.
    """
    parts = getattr(base, "_uri_reference", None)
    if (
        parts is None
        or not _PLAIN_PATH.fullmatch(path)
        or (query is not None and not _PLAIN_QUERY.fullmatch(query))
    ):
        text = str(base.copy_with(query=None, fragment=None)).rstrip("/") + path
        return httpx.URL(text if query is None else f"{text}?{query}")
    url = httpx.URL(base)
    url._uri_reference = parts._replace(
        path=parts.path.rstrip("/") + path, query=query, fragment=None
    )
    return url
