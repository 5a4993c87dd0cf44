"""Open connections before they are needed: TCP and TLS cost round trips that a check should not.

A cold check pays, per host, one round trip for TCP and one for TLS before its first request.
The hosts are known in advance (the collection host allow-list and `ECWID_API_URL`), so the
connections can be opened while something else waits: Ecwid's during the download, both when
a person opens the paste modal. Nothing is sent on them: no request, no token; they join the
client's pool as if a request had just finished on them, and leave it after its keep-alive.

Warming is best-effort and never raises: a host that cannot be reached is found out, and
reported, by the check itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from yarl import URL

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
# How long a check waits for a warming it started before sending its requests anyway.
WAIT_S = 2.0


def _connector(http: httpx.AsyncClient) -> aiohttp.BaseConnector | None:
    transport = getattr(http, "_transport", None)
    if not isinstance(transport, AiohttpTransport):
        return None  # another transport (a test's mock): nothing to warm
    if not isinstance(transport.client, aiohttp.ClientSession):
        transport.client = transport.get_client()  # what its first request would do
    return transport.client.connector


def idle_connections(connector: aiohttp.BaseConnector, key: object) -> int:
    """How many idle connections `connector` keeps for `key` (a request's `connection_key`).

    aiohttp has no public way to ask: this reads its pool (`BaseConnector._conns`, key → the
    idle connections). Should that change, it answers 0 and warming opens what it cannot
    take, as it always may; tests/engine/test_warm.py pins it to the pool's real state.
    """
    pool = getattr(connector, "_conns", None)
    try:
        return len(pool.get(key, ())) if pool is not None else 0
    except (AttributeError, TypeError):
        return 0


async def warm(http: httpx.AsyncClient, origin: str, connections: int = 1) -> int:
    """Make sure `connections` keep-alive connections to `origin` (scheme://host[:port]) are in
    `http`'s pool, opening only the missing ones, all at once; return how many are ready."""
    try:
        return await _warm(http, origin, connections)
    except Exception as error:  # best-effort: the check reports what is wrong with a host
        logger.debug("warming connections failed: %s", type(error).__name__)
        return 0


async def _warm(http: httpx.AsyncClient, origin: str, connections: int) -> int:
    connector = _connector(http)
    url = URL(origin)
    if connector is None or connections < 1 or url.scheme not in ("http", "https"):
        return 0
    # The key aiohttp pools under is the request's: a bare GET to the origin has the same one.
    request = aiohttp.ClientRequest(
        "GET", url.with_path("/"), loop=asyncio.get_running_loop(), ssl=True
    )
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S)
    # The idle ones are taken one after the other (each comes straight from the pool, no task
    # needed); the missing ones are opened all at once. Releasing returns all n.
    acquired: list[aiohttp.connector.Connection | BaseException] = []
    for _ in range(min(idle_connections(connector, request.connection_key), connections)):
        try:
            acquired.append(await connector.connect(request, [], timeout))
        except Exception as error:  # an idle one found closed, and opening another failed
            acquired.append(error)
    acquired += await asyncio.gather(
        *(connector.connect(request, [], timeout) for _ in range(connections - len(acquired))),
        return_exceptions=True,
    )
    ready = 0
    for connection in acquired:
        if isinstance(connection, BaseException):
            if not isinstance(connection, Exception):
                raise connection  # cancellation and the like are not ours to swallow
            logger.debug("warming %s failed: %s", url.host, type(connection).__name__)
            continue
        connection.release()
        ready += 1
    return ready


class Warmer:
    """Warms the hosts a check talks to: the collection hosts and Ecwid's API.

    One warming per host at a time: checks that start while one runs share it, so a burst of
    checks does not hold the pool's connections hostage just to make sure they exist.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        ecwid_api_url: str,
        collection_origins: Sequence[str],
        *,
        ecwid_connections: int,
    ) -> None:
        self._http = http
        self._ecwid = str(URL(ecwid_api_url).origin())
        self._collections = tuple(dict.fromkeys(collection_origins))
        self._ecwid_connections = ecwid_connections
        self._running: dict[str, asyncio.Task[int]] = {}

    def ecwid(self) -> asyncio.Task[int]:
        """Start (or join) warming as many connections to Ecwid as a check's fan-out uses."""
        return self._start(self._ecwid, self._ecwid_connections)

    async def all(self) -> None:
        """Warm Ecwid and every collection host (one connection each), and wait for it."""
        tasks = [self.ecwid(), *(self._start(origin, 1) for origin in self._collections)]
        await asyncio.wait(tasks)

    @staticmethod
    async def ready(task: asyncio.Task[int], within_s: float = WAIT_S) -> None:
        """Wait for a warming started earlier, but not longer than `within_s`: a host that
        does not answer is the check's to report, with its own time-outs."""
        if not task.done():
            await asyncio.wait([task], timeout=within_s)

    def _start(self, origin: str, connections: int) -> asyncio.Task[int]:
        running = self._running.get(origin)
        if running is not None and not running.done():
            return running
        task = asyncio.create_task(warm(self._http, origin, connections))
        self._running[origin] = task
        return task
