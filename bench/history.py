"""The history's cost: what recording a check adds to it, the App Home over 1,000 rows, and at a
real team's scale (`bench.history_scale`).

Both on the embedded SQLite database, the default. Recording is measured side by side: the
same checks against the sandbox, alternately with and without recording, medians compared.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

from bench import history_scale
from bot.db.database import Database
from bot.destination import Destination, EntryPoint
from bot.engine.check import ConnectionChecker
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.engine.intake import read_paste
from bot.response_targets import Urgency
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.settings import load_settings
from handlers.home import build_home

CHECKS = 60
HISTORY_ROWS = 1000
HOME_RENDERS = 20


async def _recording(database: Database) -> tuple[float, float]:
    """Median wall time of a check without and with recording it (seconds)."""
    async with EcwidSandbox() as sandbox, new_http_client() as http:
        settings = load_settings(
            env_file=None,
            ecwid_api_url=sandbox.api_url,
            collection_hosts=sandbox.collection_host,
            credentials_key=None,
        )
        checker = ConnectionChecker(settings, http, MemoryTokenGuard(0, 10**9))
        paste = read_paste(sandbox.collection_url("connected"), settings.collection_hosts)
        place = Destination(
            team="T0001", channel="C0BENCH", thread_ts="1700000000.000100", requester="U0BENCH"
        )
        plain, recorded = [], []
        await checker.check(paste)  # warm up
        for number in range(CHECKS * 2):
            started = time.perf_counter()
            report = await checker.check(paste)
            if number % 2:
                await database.record_check(report, place.started_by(EntryPoint.MODAL))
                recorded.append(time.perf_counter() - started)
            else:
                plain.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(recorded)


async def _fill(database: Database) -> None:
    """1,000 checks over 50 stores and 10 people, one escalation in ten, like a busy month."""
    async with EcwidSandbox() as sandbox, new_http_client() as http:
        settings = load_settings(
            env_file=None, ecwid_api_url=sandbox.api_url, collection_hosts=sandbox.collection_host
        )
        checker = ConnectionChecker(settings, http, MemoryTokenGuard(0, 10**9))
        keys = ["connected", "free_plan", "revoked", "no_customer_scope", "closed"]
        reports = [await checker.check_text(sandbox.collection_url(key)) for key in keys]
    for number in range(HISTORY_ROWS):
        place = Destination(
            team="T0001",
            channel="C0BENCH",
            thread_ts=f"17000{number:05d}.000100",
            requester=f"U{number % 10:04d}",
        )
        check_id = await database.record_check(
            reports[number % len(reports)], place.started_by(EntryPoint.MODAL)
        )
        if number % 10 == 0:
            await database.create_escalation(
                check_id, place, goal="migrate", urgency=Urgency.NORMAL, note=""
            )


async def _home(database: Database) -> float:
    renders = []
    for _ in range(HOME_RENDERS):
        started = time.perf_counter()
        await build_home(database, "U0001", "D0001", agent=True)
        renders.append(time.perf_counter() - started)
    return statistics.median(renders)


async def _measure() -> list[str]:
    with tempfile.TemporaryDirectory() as data_dir:
        database = Database.from_url(f"sqlite+aiosqlite:///{data_dir}/bench.sqlite3")
        await database.migrate()
        try:
            plain, recorded = await _recording(database)
            await _fill(database)
            home = await _home(database)
        finally:
            await database.close()
    added_ms = (recorded - plain) * 1000
    return [
        "History on SQLite",
        f"  one check {plain * 1000:.1f} ms, with recording {recorded * 1000:.1f} ms"
        f" → recording adds {added_ms:.2f} ms (target < 5), medians of {CHECKS} each",
        f"  App Home of a support agent over {HISTORY_ROWS:,} checks: {home * 1000:.1f} ms"
        f" (target < 200), median of {HOME_RENDERS}",
    ]


async def _all() -> list[str]:
    return [*await _measure(), *await history_scale.measure()]


def run() -> list[str]:
    return asyncio.run(_all())
