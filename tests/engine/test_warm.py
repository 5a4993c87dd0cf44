"""Warming connections: opened ahead of a check, without a request, and reused by the check.

Two counting TCP proxies stand for S3 and for Ecwid's API in front of one sandbox, so each
host has connections of its own and the test can count the connections really opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
import pytest
from yarl import URL

from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis
from bot.engine.http_client import new_http_client
from bot.engine.warm import Warmer, _connector, idle_connections, warm
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.loopback import free_port
from tests.conftest import settings_for

FAN_OUT = 5  # the profile and the four counts


class CountingProxy:
    """Forwards TCP to `upstream_port`, counting connections; `hold` may delay the first
    bytes each client sends until it returns (a slow download, say)."""

    def __init__(self, upstream_port: int, hold: Callable[[], Awaitable[None]] | None = None):
        self.accepted = 0
        self._upstream_port = upstream_port
        self._hold = hold
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)

        async def pipe(
            source: asyncio.StreamReader, target: asyncio.StreamWriter, held: bool
        ) -> None:
            try:
                first = True
                while chunk := await source.read(65536):
                    if first and held and self._hold is not None:
                        await self._hold()
                    first = False
                    target.write(chunk)
                    await target.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                target.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


@pytest.fixture
async def proxies(sandbox: EcwidSandbox) -> AsyncIterator[tuple[CountingProxy, CountingProxy]]:
    ecwid = CountingProxy(sandbox.port)

    async def until_ecwid_is_warm() -> None:
        for _ in range(500):  # at most 5 s: then the test fails on the count below
            if ecwid.accepted >= FAN_OUT:
                return
            await asyncio.sleep(0.01)

    s3 = CountingProxy(sandbox.port, hold=until_ecwid_is_warm)
    await s3.start()
    await ecwid.start()
    yield s3, ecwid
    await s3.stop()
    await ecwid.stop()


@pytest.fixture
async def proxied_checker(
    sandbox: EcwidSandbox, proxies: tuple[CountingProxy, CountingProxy]
) -> AsyncIterator[ConnectionChecker]:
    """A checker that reaches the collection and Ecwid through the counting proxies."""
    s3, ecwid = proxies
    settings = settings_for(
        sandbox, collection_hosts=s3.origin, ecwid_api_url=f"{ecwid.origin}/api/v3"
    )
    async with new_http_client() as http:
        yield ConnectionChecker(settings, http)


def _connected_through(s3: CountingProxy, sandbox: EcwidSandbox) -> str:
    """The connected store's collection URL through the S3 proxy."""
    return s3.origin + sandbox.store("connected").collection_path


async def test_warming_opens_connections_without_sending_a_request(
    sandbox: EcwidSandbox, proxies: tuple[CountingProxy, CountingProxy]
) -> None:
    _s3, ecwid = proxies
    async with new_http_client() as http:
        assert await warm(http, ecwid.origin, 3) == 3
        assert ecwid.accepted == 3
        assert await warm(http, ecwid.origin, 3) == 3  # the idle ones count: none opened
        assert ecwid.accepted == 3
        assert await warm(http, ecwid.origin, 4) == 4
        assert ecwid.accepted == 4
    assert sandbox.requests == []


async def test_a_check_after_warming_opens_no_connection_of_its_own(
    sandbox: EcwidSandbox,
    proxies: tuple[CountingProxy, CountingProxy],
    proxied_checker: ConnectionChecker,
) -> None:
    s3, ecwid = proxies
    await proxied_checker.warm()  # what opening the paste modal does
    assert (s3.accepted, ecwid.accepted) == (1, FAN_OUT)
    report = await proxied_checker.check_text(_connected_through(s3, sandbox))
    assert report.diagnosis is Diagnosis.OK
    assert (s3.accepted, ecwid.accepted) == (1, FAN_OUT)
    assert len(sandbox.requests) == 1 + FAN_OUT


async def test_a_cold_check_opens_ecwid_s_connections_while_the_collection_downloads(
    sandbox: EcwidSandbox,
    proxies: tuple[CountingProxy, CountingProxy],
    proxied_checker: ConnectionChecker,
) -> None:
    # The S3 proxy holds the download until Ecwid's connections are open: only a check that
    # opens them during the download gets its collection before the proxy gives up waiting.
    s3, ecwid = proxies
    report = await proxied_checker.check_text(_connected_through(s3, sandbox))
    assert report.diagnosis is Diagnosis.OK
    assert sandbox.requests[0].path.endswith(".postman_collection")
    assert ecwid.accepted == FAN_OUT  # the fan-out used the warmed ones, opened no more


async def test_warming_an_unreachable_host_returns_nothing_and_raises_nothing() -> None:
    async with new_http_client() as http:
        assert await warm(http, f"http://127.0.0.1:{free_port()}", 2) == 0
        assert await warm(http, "not a url", 2) == 0


async def test_warming_through_another_transport_does_nothing(sandbox: EcwidSandbox) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("warming must not send a request")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        assert await warm(http, sandbox.base_url, 2) == 0


async def test_checks_starting_together_share_one_warming(sandbox: EcwidSandbox) -> None:
    async with new_http_client() as http:
        warmer = Warmer(http, sandbox.api_url, [sandbox.base_url], ecwid_connections=3)
        first, second = warmer.ecwid(), warmer.ecwid()
        assert first is second
        assert await first == 3
        assert warmer.ecwid() is not first  # a later check warms (takes the idle ones) again


async def test_warmed_connections_outlive_httpx_s_five_second_keep_alive(
    sandbox: EcwidSandbox, proxies: tuple[CountingProxy, CountingProxy]
) -> None:
    # httpx's default keep-alive (5 s) would close them before most people have pasted.
    _s3, ecwid = proxies
    async with new_http_client() as http:
        await warm(http, ecwid.origin, 2)
        await asyncio.sleep(6)
        assert await warm(http, ecwid.origin, 2) == 2
        assert ecwid.accepted == 2


async def test_the_idle_connections_are_read_from_aiohttp_s_pool(
    sandbox: EcwidSandbox, proxies: tuple[CountingProxy, CountingProxy]
) -> None:
    """`idle_connections` reads a private part of aiohttp: this pins it to what the pool holds."""
    s3, ecwid = proxies
    async with new_http_client() as http:
        connector = _connector(http)
        assert connector is not None

        def key(origin: str) -> object:
            url = URL(origin).with_path("/")
            request = aiohttp.ClientRequest("GET", url, loop=asyncio.get_running_loop(), ssl=True)
            return request.connection_key

        assert idle_connections(connector, key(ecwid.origin)) == 0
        assert await warm(http, ecwid.origin, 3) == 3
        assert idle_connections(connector, key(ecwid.origin)) == 3
        assert idle_connections(connector, key(s3.origin)) == 0
        await http.get(ecwid.origin + "/api/v3/1/profile")  # takes one, gives it back
        assert idle_connections(connector, key(ecwid.origin)) == 3
        assert await warm(http, ecwid.origin, 5) == 5
        assert (idle_connections(connector, key(ecwid.origin)), ecwid.accepted) == (5, 5)
