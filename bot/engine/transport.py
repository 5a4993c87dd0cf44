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

from typing import Any

import httpx
from aiohttp import BasicAuth, ClientSession, ClientTimeout
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions
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
    """`AiohttpTransport`, handing aiohttp the URL and headers in the forms it reads fastest."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        with map_aiohttp_exceptions():
            response = await self.client.request(
                method=request.method,
                # httpx has already normalised and percent-encoded it: no second pass.
                url=URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(self.proxy.url) if self.proxy else None,
                proxy_auth=BasicAuth(*self.proxy.auth) if self.proxy and self.proxy.auth else None,
                proxy_headers=self.proxy.headers if self.proxy else None,
            ).__aenter__()
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=AiohttpResponseStream(response),
            request=request,
            extensions=extensions,
        )
