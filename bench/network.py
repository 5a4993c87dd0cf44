"""One check over a realistic network: TLS to S3 and to Ecwid, round trips of 50 and 150 ms.

`bench.wan` puts the sandbox behind relays that delay every chunk by half the round trip and
make TCP's handshake cost its round trip, so a new HTTPS connection pays three: TCP, TLS 1.3,
the request. The floors, in round trips (RTT):

- warm check, connections already open: 2 (the download, then the fan-out to Ecwid);
- cold check, nothing open: 4 (S3: TCP + TLS + download = 3; Ecwid's connections are opened
  during the download, so the fan-out adds only its own 1);
- check after the paste modal opened, which warms both hosts: 2 again.

Each kind of check takes its turn in every round (the order rotates), medians of the rounds.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.tls import make_certificates
from bench.wan import Route, wan_process
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.sandbox.ecwid.stores import sample_stores
from bot.settings import load_settings

RTTS_MS = (50.0, 150.0)
ROUNDS = 7
# A person reads the modal and pastes: the check comes a moment after the warming.
PASTE_DELAY_S = 0.5
KINDS = {"warm": 2, "cold": 4, "after modal": 2}  # kind → floor in round trips


def checker_for(route: Route, http: httpx.AsyncClient) -> ConnectionChecker:
    settings = load_settings(
        env_file=None,
        ecwid_api_url=route.api_url,
        collection_hosts=route.collection_host,
        check_timeout_s=60,
    )
    return ConnectionChecker(settings, http, MemoryTokenGuard(0, 10**9))


async def _timed(check: Callable[[], Awaitable[Diagnosis]]) -> float:
    started = time.perf_counter()
    diagnosis = await check()
    elapsed = time.perf_counter() - started
    assert diagnosis is Diagnosis.OK, diagnosis
    return elapsed


async def _measure(
    routes: dict[float, Route], direct: Route, trust: ssl.SSLContext
) -> dict[str, list[float]]:
    path = next(store for store in sample_stores() if store.key == "connected").collection_path
    samples: dict[str, list[float]] = {}
    routes = {**routes, 0.0: direct}  # TLS without delay: the time that is not the network's
    async with new_http_client(verify=trust) as kept:
        warm_checkers = {rtt: checker_for(route, kept) for rtt, route in routes.items()}
        for rtt, route in routes.items():  # a running bot's pool: opened by an earlier check
            await warm_checkers[rtt].check_text(route.collection_host + path)

        def kinds(rtt: float, route: Route) -> dict[str, Callable[[], Awaitable[Diagnosis]]]:
            url = route.collection_host + path

            async def warm() -> Diagnosis:
                return (await warm_checkers[rtt].check_text(url)).diagnosis

            async def cold() -> Diagnosis:
                async with new_http_client(verify=trust) as http:
                    return (await checker_for(route, http).check_text(url)).diagnosis

            async def after_modal() -> Diagnosis:
                async with new_http_client(verify=trust) as http:
                    checker = checker_for(route, http)
                    await checker.warm()
                    await asyncio.sleep(PASTE_DELAY_S)
                    started = time.perf_counter()
                    diagnosis = (await checker.check_text(url)).diagnosis
                    samples.setdefault(f"{rtt}/after modal", []).append(
                        time.perf_counter() - started
                    )
                    return diagnosis

            return {"warm": warm, "cold": cold, "after modal": after_modal}

        turns = [
            (rtt, kind, check)
            for rtt, route in routes.items()
            for kind, check in kinds(rtt, route).items()
            if rtt or kind == "warm"
        ]
        for number in range(ROUNDS):
            shift = number % len(turns)
            for rtt, kind, check in turns[shift:] + turns[:shift]:
                elapsed = await _timed(check)
                if kind != "after modal":  # timed from the paste, not from the modal
                    samples.setdefault(f"{rtt}/{kind}", []).append(elapsed)
    return samples


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as directory:
        certificates = make_certificates(Path(directory))
        with wan_process(certificates, list(RTTS_MS)) as network:
            samples = asyncio.run(
                _measure(network.routes, network.direct, certificates.client_context())
            )
    lines = [
        "Realistic network: S3 and Ecwid over TLS (throw-away CA) behind delaying relays,"
        f" medians of {ROUNDS} interleaved rounds"
    ]
    for rtt in RTTS_MS:
        parts = []
        for kind, floor_rtts in KINDS.items():
            median = statistics.median(samples[f"{rtt}/{kind}"])
            floor = floor_rtts * rtt / 1000
            parts.append(
                f"{kind} {median * 1000:.0f} ms / floor {floor_rtts} RTT = {median / floor:.2f}"
            )
        lines.append(f"  RTT {rtt:g} ms: " + " · ".join(parts))
    direct = statistics.median(samples["0.0/warm"]) * 1000
    lines.append(
        f"  the warm check without any delay takes {direct:.0f} ms: CPU and the sandbox's own"
        " time, which no floor counts (high on a busy machine)"
    )
    return lines
