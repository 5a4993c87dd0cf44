"""The check engine: one check against its two-round-trip floor, and 500 checks at once.

With the sandbox adding 100 ms to every request, a check cannot be faster than two round trips
(download, then the parallel fan-out to Ecwid): 200 ms. The ratios say how close it gets.
Two bursts of 500: over the sample stores with the guard out of the way (the engine alone),
and 500 different working stores at default settings, guard included (its budget must make
them wait in line, never answer `throttled` or time out).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import statistics
import time
from collections import Counter

from bench.sandbox_process import SandboxProcess, sandbox_process
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.engine.report import CheckReport
from bot.sandbox.ecwid.stores import sample_stores, working_stores
from bot.settings import load_settings

LATENCY_MS = 100.0
FLOOR_S = 2 * LATENCY_MS / 1000
SINGLE_RUNS = 15
CONCURRENT_CHECKS = 500
# Stores answered in two round trips; the retrying samples (flaky, rate limits, outages, slow)
# are slower by design and would measure their back-off, not the engine.
TWO_ROUND_TRIP_STORES = (
    "connected",
    "closed",
    "empty_catalog",
    "no_customer_scope",
    "public_token",
    "free_plan",
    "free_plan_strict",
    "suspended",
    "revoked",
    "unknown_store",
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _burst(
    checker: ConnectionChecker, urls: list[str], sandbox: SandboxProcess
) -> tuple[list[CheckReport], dict[str, float]]:
    """All of `urls` checked at once: the reports, the wall time and each process's CPU."""
    sandbox_cpu = sandbox.cpu_seconds()
    started, cpu_started = time.perf_counter(), time.process_time()
    reports = await asyncio.gather(*(checker.check_text(u) for u in urls))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return reports, {
        "wall_s": wall,
        "engine_cpu_s": cpu,
        "sandbox_cpu_s": sandbox.cpu_seconds() - sandbox_cpu,
    }


async def _measure(sandbox: SandboxProcess) -> dict[str, float]:
    base_url = sandbox.base_url
    stores = {store.key: store for store in sample_stores()}
    settings = load_settings(
        env_file=None,
        ecwid_api_url=f"{base_url}/api/v3",
        collection_hosts=base_url,
        check_timeout_s=60,
    )
    url = f"{base_url}{stores['connected'].collection_path}"
    async with new_http_client() as http:
        # No cool-down and no budget: every check really asks Ecwid, as 500 users' would.
        checker = ConnectionChecker(settings, http, MemoryTokenGuard(0, 10**9))
        await checker.check_text(url)  # warm the connection pool, as a running bot's is
        gc.freeze()  # as the bot does once started (BotServices.start)
        singles = []
        for _ in range(SINGLE_RUNS):
            started = time.perf_counter()
            report = await checker.check_text(url)
            singles.append(time.perf_counter() - started)
            assert report.diagnosis is Diagnosis.OK, report.summary
        one = statistics.median(singles)

        keys = [
            TWO_ROUND_TRIP_STORES[i % len(TWO_ROUND_TRIP_STORES)] for i in range(CONCURRENT_CHECKS)
        ]
        urls = [f"{base_url}{stores[key].collection_path}" for key in keys]
        rss_before = _peak_rss_mib()
        # Concurrent checks of one store share one flight: the next burst has 500 stores.
        reports, burst = await _burst(checker, urls, sandbox)
        wrong = [
            r
            for r in reports
            if r.diagnosis
            in (Diagnosis.CHECK_TIMEOUT, Diagnosis.INTERNAL_ERROR, Diagnosis.THROTTLED)
        ]
        assert not wrong, f"{len(wrong)} checks failed under load: {wrong[0].summary}"

        # 500 users, 500 working stores, default settings: the guard as the bot runs it.
        defaults = load_settings(
            env_file=None, ecwid_api_url=f"{base_url}/api/v3", collection_hosts=base_url
        )
        guarded = ConnectionChecker(defaults, http)
        working = [base_url + store.collection_path for store in working_stores(CONCURRENT_CHECKS)]
        reports, guarded_burst = await _burst(guarded, working, sandbox)
        outcomes = Counter(report.diagnosis for report in reports)
    return {
        "one_s": one,
        "burst_s": burst["wall_s"],
        "cpu_per_check_ms": burst["engine_cpu_s"] / CONCURRENT_CHECKS * 1000,
        "engine_cpu_s": burst["engine_cpu_s"],
        "sandbox_cpu_s": burst["sandbox_cpu_s"],
        "rss_before": rss_before,
        "rss_after": _peak_rss_mib(),
        "guarded_s": guarded_burst["wall_s"],
        "guarded_engine_cpu_s": guarded_burst["engine_cpu_s"],
        "guarded_sandbox_cpu_s": guarded_burst["sandbox_cpu_s"],
        "ok": outcomes[Diagnosis.OK],
        "throttled": outcomes[Diagnosis.THROTTLED],
        "timeouts": outcomes[Diagnosis.CHECK_TIMEOUT],
    }


def _cpu_floor(engine_cpu_s: float, sandbox_cpu_s: float) -> float:
    """The fastest a burst can be on this machine: each process's CPU, and both over the cores."""
    return max(engine_cpu_s, sandbox_cpu_s, (engine_cpu_s + sandbox_cpu_s) / (os.cpu_count() or 1))


def run() -> list[str]:
    """Measure and return the lines to print."""
    with sandbox_process(LATENCY_MS, working_stores=CONCURRENT_CHECKS) as sandbox:
        numbers = asyncio.run(_measure(sandbox))
    one, burst = numbers["one_s"], numbers["burst_s"]
    cpu_floor = _cpu_floor(numbers["engine_cpu_s"], numbers["sandbox_cpu_s"])
    guarded = numbers["guarded_s"]
    guarded_floor = _cpu_floor(numbers["guarded_engine_cpu_s"], numbers["guarded_sandbox_cpu_s"])
    return [
        f"Engine, sandbox at {LATENCY_MS:g} ms per request"
        f" (floor: 2 round trips = {FLOOR_S * 1000:g} ms)",
        f"  one check, median of {SINGLE_RUNS}: {one * 1000:.0f} ms"
        f"  → ratio to floor {one / FLOOR_S:.3f} (target ≤ 1.15)",
        f"  {CONCURRENT_CHECKS} checks at once over {len(TWO_ROUND_TRIP_STORES)} sample stores"
        " (one flight per store at a time):"
        f" {burst * 1000:.0f} ms  → ratio to one check {burst / one:.2f} (target ≤ 3)",
        f"  CPU during the burst: engine {numbers['engine_cpu_s']:.2f} s"
        f" ({numbers['cpu_per_check_ms']:.2f} ms a check), sandbox process"
        f" {numbers['sandbox_cpu_s']:.2f} s; on {os.cpu_count()} cores the burst cannot beat"
        f" {cpu_floor * 1000:.0f} ms → ratio {cpu_floor / one:.2f} is this machine's floor",
        f"  peak RSS {numbers['rss_after']:.0f} MiB"
        f" (before the burst {numbers['rss_before']:.0f} MiB)",
        f"  {CONCURRENT_CHECKS} checks at once of {CONCURRENT_CHECKS} working stores, default"
        f" settings (guard on): {numbers['ok']:.0f} ok, {numbers['throttled']:.0f} throttled,"
        f" {numbers['timeouts']:.0f} time-outs (target 0 and 0); {guarded * 1000:.0f} ms"
        f" against this machine's CPU floor {guarded_floor * 1000:.0f} ms"
        f" (engine {numbers['guarded_engine_cpu_s']:.2f} s + sandbox"
        f" {numbers['guarded_sandbox_cpu_s']:.2f} s CPU over {os.cpu_count()} cores)"
        f" → ratio {guarded / guarded_floor:.2f}",
    ]
