"""CPU per check: the engine against a plain aiohttp client doing the same six requests.

Both talk TLS to the sandbox in another process (no added delay), one check after another,
in alternating blocks; the CPU time of this process per check is compared, medians of blocks.
The plain client does only what a check must: download the collection, find the store ID and
token, ask for the profile and the four counts in parallel, decode every answer's JSON.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.network import checker_for
from bench.tls import make_certificates
from bench.wan import Route, wan_process
from bot.engine.diagnosis import Diagnosis, Entity
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.stores import sample_stores

BLOCK = 25
ROUNDS = 9
TARGET = 1.5
_STORE_AND_TOKEN = re.compile(r"/api/v3/(\d+)/[^?]*\?(?:.*&)?token=([A-Za-z0-9_]+)")


async def plain_check(session: aiohttp.ClientSession, url: str, api_url: str) -> int:
    """The baseline: the same requests, the least code; returns the product count."""
    async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
        body = await response.read()
    collection = json.loads(body)
    match = _STORE_AND_TOKEN.search(collection["requests"][0]["url"])
    assert match is not None
    store_id, token = match.groups()
    headers = {"Authorization": f"Bearer {token}"}

    async def get(path: str, params: dict[str, str]) -> dict[str, object]:
        async with session.get(f"{api_url}/{store_id}/{path}", params=params, headers=headers) as r:
            answer: dict[str, object] = await r.json()
            return answer

    profile, *counts = await asyncio.gather(
        get("profile", {}),
        *(
            get(
                e.value,
                {"limit": "1"} | ({"hidden_categories": "true"} if e is Entity.CATEGORIES else {}),
            )
            for e in Entity
        ),
    )
    assert "generalInfo" in profile
    total = counts[0]["total"]
    assert isinstance(total, int)
    return total


async def _cpu_per_check(check: Callable[[], Awaitable[object]]) -> float:
    started = time.process_time()
    for _ in range(BLOCK):
        await check()
    return (time.process_time() - started) / BLOCK


async def _measure(route: Route, trust: ssl.SSLContext) -> dict[str, list[float]]:
    url = route.collection_host + next(
        store.collection_path for store in sample_stores() if store.key == "connected"
    )
    samples: dict[str, list[float]] = {"engine": [], "plain aiohttp": []}
    connector = aiohttp.TCPConnector(ssl=trust)
    async with (
        new_http_client(verify=trust) as http,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        checker = checker_for(route, http)

        async def engine() -> None:
            report = await checker.check_text(url)
            assert report.diagnosis is Diagnosis.OK, report.summary

        async def plain() -> None:
            await plain_check(session, url, route.api_url)

        checks = {"engine": engine, "plain aiohttp": plain}
        for check in checks.values():  # open the connections, fill the caches
            for _ in range(5):
                await check()
        for number in range(ROUNDS):
            order = list(checks) if number % 2 else list(checks)[::-1]
            for name in order:
                samples[name].append(await _cpu_per_check(checks[name]))
    return samples


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as directory:
        certificates = make_certificates(Path(directory))
        with wan_process(certificates, []) as network:
            samples = asyncio.run(_measure(network.direct, certificates.client_context()))
    engine = statistics.median(samples["engine"]) * 1000
    plain = statistics.median(samples["plain aiohttp"]) * 1000
    return [
        f"CPU per check over TLS, this process only, medians of {ROUNDS} alternating blocks"
        f" of {BLOCK}",
        f"  engine {engine:.2f} ms · plain aiohttp, same six requests {plain:.2f} ms"
        f"  → ratio {engine / plain:.2f} (target ≤ {TARGET:g})",
    ]
