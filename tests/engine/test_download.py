"""Downloading a Personal collection over real HTTP on loopback: the allow-list, redirects,
bounds, and the SSRF defences (public addresses only, pinned against DNS rebinding)."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiohttp.abc
import httpx
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from httpx_aiohttp import AiohttpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.diagnosis import Diagnosis
from bot.engine.download import (
    DOWNLOAD_TIMEOUT,
    MAX_REDIRECTS,
    PinnedResolver,
    download_collection,
    pinned_addresses,
)
from bot.engine.errors import CollectionError
from bot.engine.http_client import new_http_client
from bot.engine.postman import parse_collection
from bot.engine.redaction import CollectionUrl
from bot.sandbox.loopback import AppServer
from bot.settings import CollectionHost
from tests.paths import FIXTURES

COLLECTIONS = FIXTURES / "collections"
SAMPLE = (COLLECTIONS / "v1.json").read_bytes()
SAMPLE_TOKEN = "secret_EXAMPLEexampleEXAMPLEexample0000"
# The secret part of a collection URL: no error may ever show it.
SECRET_NAME = "1003_5f1a9c0e7b2d4e6f8a0b.json.postman_collection"
S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>EXAMPLE</RequestId><HostId>EXAMPLE</HostId></Error>"
)


# --- A stand-in for S3 on loopback ---------------------------------------------------------------


@dataclass
class Server:
    """A local HTTP server and the paths of every request it received."""

    port: int = 0
    seen: list[str] = field(default_factory=list)

    @property
    def hosts(self) -> tuple[CollectionHost, ...]:
        """An allow-list naming this server with its port, as the sandbox is named."""
        return (CollectionHost("http", "127.0.0.1", self.port, explicit_port=True),)

    def url(self, route: str, host: str = "127.0.0.1") -> CollectionUrl:
        return CollectionUrl(f"http://{host}:{self.port}/{route}/{SECRET_NAME}")


def _storage_routes(elsewhere: Server) -> web.RouteTableDef:
    routes = web.RouteTableDef()
    gzipped = gzip.compress(SAMPLE)

    @routes.get("/good/{name}")
    async def good(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE, content_type="binary/octet-stream")

    @routes.get("/gzip-encoded/{name}")
    async def gzip_encoded(request: web.Request) -> web.Response:
        return web.Response(
            body=gzipped, content_type="application/json", headers={"Content-Encoding": "gzip"}
        )

    @routes.get("/gzip-raw/{name}")
    async def gzip_raw(request: web.Request) -> web.Response:
        return web.Response(body=gzipped, content_type="binary/octet-stream")

    @routes.get("/gzip-bomb/{name}")
    async def gzip_bomb(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(bytes(3 * 1024 * 1024)))

    @routes.get("/gzip-damaged/{name}")
    async def gzip_damaged(request: web.Request) -> web.Response:
        return web.Response(body=gzipped[: len(gzipped) // 2])

    @routes.get("/brotli/{name}")
    async def brotli(request: web.Request) -> web.Response:
        return web.Response(body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"})

    @routes.get("/denied/{name}")
    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=403, text=S3_ACCESS_DENIED, content_type="application/xml")

    @routes.get("/slow-down/{name}")
    async def slow_down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="<Error><Code>SlowDown</Code></Error>")

    @routes.get("/error/{name}")
    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500)

    @routes.get("/huge/{name}")
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b" " * (64 * 1024)
        try:
            for _ in range(3 * 16):  # 3 MiB
                await response.write(chunk)
        except ConnectionError:  # the client stopped reading, as it should
            pass
        return response

    @routes.get("/slow/{name}")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=SAMPLE)

    @routes.get("/hop/{hops:\\d+}/{name}")
    async def hop(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        if hops == 0:
            return web.Response(body=SAMPLE)
        raise web.HTTPFound(f"/hop/{hops - 1}/{request.match_info['name']}")

    @routes.get("/loop/{name}")
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    @routes.get("/away/{name}")
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(elsewhere.url("good")))

    @routes.get("/no-location/{name}")
    async def no_location(request: web.Request) -> web.Response:
        return web.Response(status=302)

    return routes


@asynccontextmanager
async def _serve(server: Server, routes: web.RouteTableDef) -> AsyncIterator[Server]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        server.seen.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    # Cancelling handlers when the client hangs up keeps the slow route from delaying teardown.
    async with AppServer(app, handler_cancellation=True) as running:
        server.port = running.port
        yield server


@pytest.fixture
async def elsewhere() -> AsyncIterator[Server]:
    """A server that no allow-list names: redirects may point at it, but never reach it."""
    routes = web.RouteTableDef()

    @routes.get("/good/{name}")
    async def good(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE)

    async with _serve(Server(), routes) as server:
        yield server


@pytest.fixture
async def storage(elsewhere: Server) -> AsyncIterator[Server]:
    async with _serve(Server(), _storage_routes(elsewhere)) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # Follows redirects by default, to show that download_collection does not let it.
    async with httpx.AsyncClient(follow_redirects=True) as shared:
        yield shared


async def _download_error(
    url: CollectionUrl,
    client: httpx.AsyncClient,
    hosts: tuple[CollectionHost, ...],
    timeout: httpx.Timeout = DOWNLOAD_TIMEOUT,
) -> CollectionError:
    with pytest.raises(CollectionError) as caught:
        await download_collection(url, client, hosts, timeout=timeout)
    _assert_discreet(caught.value)
    return caught.value


def _assert_discreet(error: CollectionError, *secrets: str) -> None:
    for text in (error.detail, str(error)):
        for secret in (SECRET_NAME, ".postman_collection", SAMPLE_TOKEN, *secrets):
            assert secret not in text


# --- Download ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["good", "gzip-encoded", "gzip-raw"])
async def test_downloads_the_collection(
    storage: Server, client: httpx.AsyncClient, route: str
) -> None:
    body = await download_collection(storage.url(route), client, storage.hosts)

    assert body == SAMPLE
    assert parse_collection(body).store_id == 1003


@pytest.mark.parametrize(
    ("route", "diagnosis", "explained"),
    [
        pytest.param("denied", Diagnosis.COLLECTION_NOT_FOUND, "HTTP 403", id="403-access-denied"),
        # No route serves "missing": aiohttp answers 404.
        pytest.param("missing", Diagnosis.COLLECTION_NOT_FOUND, "HTTP 404", id="404"),
        pytest.param("error", Diagnosis.COLLECTION_UNREACHABLE, "HTTP 500", id="500"),
        pytest.param("slow-down", Diagnosis.COLLECTION_UNREACHABLE, "HTTP 503", id="503"),
        pytest.param("huge", Diagnosis.COLLECTION_INVALID, "larger than 2 MiB", id="too-large"),
        pytest.param("gzip-bomb", Diagnosis.COLLECTION_INVALID, "larger than 2 MiB", id="bomb"),
        pytest.param("gzip-damaged", Diagnosis.COLLECTION_INVALID, "damaged", id="bad-gzip"),
        pytest.param("brotli", Diagnosis.COLLECTION_INVALID, "unsupported", id="brotli"),
        pytest.param("no-location", Diagnosis.COLLECTION_INVALID, "HTTP 302", id="no-location"),
    ],
)
async def test_download_failures(
    storage: Server, client: httpx.AsyncClient, route: str, diagnosis: Diagnosis, explained: str
) -> None:
    error = await _download_error(storage.url(route), client, storage.hosts)

    assert error.diagnosis is diagnosis
    assert explained in error.detail


async def test_slow_storage_times_out(storage: Server, client: httpx.AsyncClient) -> None:
    started = time.monotonic()

    error = await _download_error(
        storage.url("slow"), client, storage.hosts, timeout=httpx.Timeout(0.2)
    )

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "in time" in error.detail
    assert time.monotonic() - started < 2


async def test_follows_redirects_on_allowed_hosts(
    storage: Server, client: httpx.AsyncClient
) -> None:
    body = await download_collection(storage.url(f"hop/{MAX_REDIRECTS}"), client, storage.hosts)

    assert body == SAMPLE
    assert len(storage.seen) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("route", [f"hop/{MAX_REDIRECTS + 1}", "loop"])
async def test_stops_after_too_many_redirects(
    storage: Server, client: httpx.AsyncClient, route: str
) -> None:
    error = await _download_error(storage.url(route), client, storage.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "redirected more than" in error.detail
    assert len(storage.seen) == MAX_REDIRECTS + 1


async def test_refuses_a_redirect_off_the_allow_list(
    storage: Server, elsewhere: Server, client: httpx.AsyncClient
) -> None:
    error = await _download_error(storage.url("away"), client, storage.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_INVALID
    assert "redirected away from Ecwid's storage" in error.detail
    assert elsewhere.seen == []


@pytest.mark.parametrize(
    ("entry", "url_host"),
    [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("::1", "[::1]")],
)
async def test_refuses_local_addresses_unless_the_entry_names_a_port(
    storage: Server, client: httpx.AsyncClient, entry: str, url_host: str
) -> None:
    hosts = (CollectionHost("http", entry, storage.port, explicit_port=False),)

    error = await _download_error(storage.url("good", url_host), client, hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "private or local network address" in error.detail
    assert storage.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "https://ecwid-api-playground.s3.amazonaws.com.evil.example/x.json.postman_collection",
        "ftp://127.0.0.1/x.json.postman_collection",
        "not a URL at all",
        "",
    ],
)
async def test_refuses_hosts_off_the_allow_list(
    storage: Server, client: httpx.AsyncClient, url: str
) -> None:
    error = await _download_error(CollectionUrl(url), client, storage.hosts)

    assert error.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert storage.seen == []


async def test_refuses_credentials_in_the_url(storage: Server, client: httpx.AsyncClient) -> None:
    url = CollectionUrl(f"http://user:pass@127.0.0.1:{storage.port}/good/{SECRET_NAME}")

    error = await _download_error(url, client, storage.hosts)

    assert error.diagnosis is Diagnosis.URL_NOT_COLLECTION
    assert storage.seen == []


async def test_closed_port_is_unreachable(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = Server(port=probe.getsockname()[1])

    error = await _download_error(closed.url("good"), client, closed.hosts)

    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE
    assert "could not be reached" in error.detail


# --- Hardening: malformed redirects, DNS rebinding ---------------------------------------------


MALFORMED_LOCATIONS = [
    "http:x",
    "http:\\\\127.0.0.1:{port}/x",
    "https:",
    "http://xn--/",
    "http://[::1",
    "http://127.0.0.1:99999/",
    "http://a b/",
    "//\u00e9\u0301.example/x",
    "http://ex%00ample/",
    "http://127.0.0.1:{port}:{port}/",
]


def _redirecting_to(location: str) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/moved/{name}")
    async def moved(request: web.Request) -> web.Response:
        port = request.url.port or 0
        return web.Response(status=302, headers={"Location": location.format(port=port)})

    @routes.get("/{tail:.*}")
    async def anything(request: web.Request) -> web.Response:
        return web.Response(body=SAMPLE)

    return routes


async def _download_via_redirect(location: str, *, pinning: bool) -> Diagnosis | None:
    async with _serve(Server(), _redirecting_to(location)) as server:
        client = new_http_client() if pinning else httpx.AsyncClient()
        async with client:
            try:
                await download_collection(server.url("moved"), client, server.hosts)
            except CollectionError as error:
                _assert_discreet(error)
                return error.diagnosis
    return None


@pytest.mark.parametrize("pinning", [True, False], ids=["aiohttp", "httpcore"])
@pytest.mark.parametrize("location", MALFORMED_LOCATIONS)
async def test_a_malformed_redirect_is_a_specific_diagnosis(location: str, pinning: bool) -> None:
    """httpx raises InvalidURL (not an HTTPError) or an IDNA error for some of these."""
    diagnosis = await _download_via_redirect(location, pinning=pinning)

    assert diagnosis in (None, Diagnosis.COLLECTION_INVALID, Diagnosis.COLLECTION_UNREACHABLE)


# What a server may write in a header: no CR, LF or NUL.
_LOCATIONS = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]), max_size=40
) | st.builds(
    "".join,
    st.lists(
        st.sampled_from(["http:", "https:", "//", "\\", "/", ":", "[", "]", "%", "@", "127.0.0.1",
                         "{port}", "xn--", ".", "?", "#", "\u00e9", "a", "0", " "]),
        max_size=10,
    ),
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(location=_LOCATIONS, pinning=st.booleans())
def test_any_redirect_ends_in_a_collection_diagnosis(location: str, pinning: bool) -> None:
    diagnosis = asyncio.run(_download_via_redirect(location, pinning=pinning))

    assert diagnosis in (
        None,
        Diagnosis.COLLECTION_INVALID,
        Diagnosis.COLLECTION_UNREACHABLE,
        Diagnosis.COLLECTION_NOT_FOUND,
    )


# A public address (example.com's): what the name answers when the download checks it.
PUBLIC_ADDRESS = "93.184.215.14"


def _rebinding_getaddrinfo(calls: list[str]) -> Callable[..., Awaitable[list[Any]]]:
    """A name that answers a public address first, then loopback: DNS rebinding."""

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(host)
        address = PUBLIC_ADDRESS if len(calls) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    return getaddrinfo


@pytest.fixture
async def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name rebinds (`_rebinding_getaddrinfo`) on this test's loop; the names asked."""
    calls: list[str] = []
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", _rebinding_getaddrinfo(calls))
    return calls


def _rebinding_hosts(storage: Server) -> tuple[CollectionHost, ...]:
    """The allow-list of the rebinding tests: `collections.test`, on the storage's port."""
    return (CollectionHost("http", "collections.test", storage.port, explicit_port=False),)


async def test_the_download_connects_to_the_address_it_checked(
    storage: Server, rebinding: list[str]
) -> None:
    calls = rebinding
    hosts = _rebinding_hosts(storage)
    url = storage.url("good", "collections.test")

    async with new_http_client() as client:
        error = await _download_error(url, client, hosts, timeout=httpx.Timeout(2.0, connect=0.5))

    # The public address was vetted and pinned; nobody asked the name again, so loopback,
    # where the storage listens, was never reached.
    assert calls == ["collections.test"]
    assert storage.seen == []
    assert error.diagnosis is Diagnosis.COLLECTION_UNREACHABLE


async def test_the_rebinding_stand_in_does_lead_an_unpinned_client_to_loopback(
    storage: Server, rebinding: list[str]
) -> None:
    """Without the pin, the same name and client setup reach the private address."""
    calls = rebinding
    hosts = _rebinding_hosts(storage)
    unpinned = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver(), use_dns_cache=False)
    )

    async with httpx.AsyncClient(transport=AiohttpTransport(client=unpinned)) as client:
        body = await download_collection(storage.url("good", "collections.test"), client, hosts)

    assert body == SAMPLE
    assert len(calls) == 2
    assert storage.seen == [f"/good/{SECRET_NAME}"]


async def test_the_pinned_resolver_answers_only_the_vetted_addresses() -> None:
    class Refusing(aiohttp.abc.AbstractResolver):
        asked: list[str] = []  # noqa: RUF012 - one instance, one test

        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> Any:
            self.asked.append(host)
            raise OSError("DNS must not be asked for a pinned name")

        async def close(self) -> None:
            pass

    fallback = Refusing()
    resolver = PinnedResolver(fallback)
    vetted = (ipaddress.ip_address(PUBLIC_ADDRESS), ipaddress.ip_address("2606:2800:21f::1"))

    with pinned_addresses("Collections.TEST", vetted):
        both = await resolver.resolve("collections.test", 443, socket.AF_UNSPEC)
        only_v6 = await resolver.resolve("collections.test", 443, socket.AF_INET6)
    with pytest.raises(OSError, match="must not be asked"):
        await resolver.resolve("collections.test", 443, socket.AF_UNSPEC)

    assert [answer["host"] for answer in both] == [PUBLIC_ADDRESS, "2606:2800:21f::1"]
    assert [answer["host"] for answer in only_v6] == ["2606:2800:21f::1"]
    assert fallback.asked == ["collections.test"]
