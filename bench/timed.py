"""Timed work at scale: claiming among 10,000 due items, and two replicas working through
watch rounds against the Ecwid sandbox on PostgreSQL.

Run alone with `python -m bench.timed` (PostgreSQL from BENCH_DATABASE_URL or
TEST_DATABASE_URL; a throw-away database is made on that server and dropped). Prints:

- the time to claim 1,000 due items out of 10,000 (median of batches), on PostgreSQL and on
  SQLite;
- two replicas, each with its own engine and its own checker sharing the database's token
  guard, running ROUNDS items due within WINDOW_S against the Ecwid sandbox: every item run
  exactly once, the rounds a second they sustain (10,000 watches due within an hour need 2.8),
  and the CPU of one round (a watch's: the whole check, with its claim and finish) beside the
  CPU of one ordinary check in the same run.

An hour of 10,000 is not replayed: the rate the two replicas sustain, against the 2.8 a second
that hour needs, says the same in seconds.
"""

from __future__ import annotations

import asyncio
import collections
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from bench.scratch import SKIPPED, postgres_server, scratch_database
from bot.db.database import Database
from bot.db.models import TimedWorkRow, utcnow
from bot.db.shared import DatabaseTokenGuard
from bot.db.timed import Again, TimedItem, TimedState, TimedWork
from bot.engine.check import ConnectionChecker
from bot.engine.http_client import new_http_client
from bot.engine.intake import read_paste
from bot.metrics import Metrics
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import derive_token, sample_stores
from bot.settings import load_settings
from bot.slack.tasks import TaskSupervisor
from bot.slack.timed import TimedWorkRunner

ITEMS = 10_000
CLAIM = 1_000
ROUNDS = 1_000
WINDOW_S = 10.0
HOUR_RATE = 10_000 / 3600
KIND = "bench"
ORDINARY_CHECKS = 30
# Working stores, each its own token (rounds of one token would share one flight to Ecwid);
# a failing store's rounds would be held by the failing-token budget, which is the guard's
# business (measured in its own benchmark), not this one's.
STORES = 1_000


async def _fill(
    database: Database, count: int, window_s: float, payload: list[dict[str, str]]
) -> None:
    """`count` items due over `window_s` from now, in one transaction (as 10,000 watches set
    over weeks would be)."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4().hex,
            "kind": KIND,
            "key": None,
            "subject": None,
            "created_at": now,
            "due_at": now + timedelta(seconds=random.uniform(0, window_s)),
            "state": TimedState.PENDING.value,
            "owner": None,
            "lease_until": None,
            "attempts": 0,
            "runs": 0,
            "payload": payload[number % len(payload)],
            "last_error": None,
            "finished_at": None,
        }
        for number in range(count)
    ]
    async with database.engine.begin() as connection:
        await connection.execute(sa.insert(TimedWorkRow), rows)


async def _claim_time(url: str) -> float:
    """Median seconds to claim CLAIM due items, ITEMS due in all."""
    database = Database.from_url(url)
    try:
        await database.migrate()
        await _fill(database, ITEMS, 0, [{}])
        work = TimedWork(database, 30)
        times = []
        while True:
            started = time.perf_counter()
            claimed = await work.claim({KIND}, CLAIM)
            if not claimed:
                break
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        await database.close()


async def _replicas(url: str) -> list[str]:
    template = next(store for store in sample_stores() if store.key == "connected")
    stores = [
        replace(
            template,
            key=f"watched_{number}",
            store_id=500_000 + number,
            token=derive_token("bench-timed", str(number)),
        )
        for number in range(STORES)
    ]
    async with EcwidSandbox(stores) as sandbox, new_http_client() as http:
        settings = load_settings(
            env_file=None,
            ecwid_api_url=sandbox.api_url,
            collection_hosts=sandbox.collection_host,
            database_url=url,
        )
        pastes = {
            store.key: read_paste(sandbox.collection_url(store.key), settings.collection_hosts)
            for store in stores
        }
        runs: collections.Counter[str] = collections.Counter()
        databases = [Database.from_url(url) for _ in range(2)]
        await databases[0].migrate()
        await _fill(databases[0], ROUNDS, WINDOW_S, [{"store": store.key} for store in stores])
        checkers = [
            ConnectionChecker(
                settings,
                http,
                DatabaseTokenGuard(
                    database, settings.token_cooldown_s, settings.failing_token_budget_per_min
                ),
            )
            for database in databases
        ]
        # One ordinary check's CPU, in the same process, before the rounds begin.
        paste = pastes[stores[0].key]
        await checkers[0].check(paste)
        cpu = time.process_time()
        for _ in range(ORDINARY_CHECKS):
            await checkers[0].check(paste)
        ordinary_cpu = (time.process_time() - cpu) / ORDINARY_CHECKS

        runners, supervisors = [], []
        for database, checker in zip(databases, checkers, strict=True):

            async def look(item: TimedItem, checker: ConnectionChecker = checker) -> Again | None:
                await checker.check(pastes[str(item.payload["store"])])
                runs[item.id] += 1
                return None

            tasks = TaskSupervisor()
            supervisors.append(tasks)
            runner = TimedWorkRunner(
                TimedWork(database, 30), Metrics(), tasks.spawn, timeout_s=60, poll_s=0.2
            )
            runner.handle({KIND: look})
            runners.append(runner)
        cpu = time.process_time()
        started = time.perf_counter()
        for runner in runners:
            runner.start()
        while sum(runs.values()) < ROUNDS:
            await asyncio.sleep(0.2)
            if time.perf_counter() - started > WINDOW_S * 30:
                break
        elapsed = time.perf_counter() - started
        round_cpu = (time.process_time() - cpu) / max(sum(runs.values()), 1)
        for runner in runners:
            await runner.stop()
        for tasks in supervisors:
            await tasks.drain(10)
        async with databases[0].engine.connect() as connection:
            done = await connection.scalar(
                sa.select(sa.func.count()).where(TimedWorkRow.state == TimedState.DONE.value)
            )
        for database in databases:
            await database.close()
        profile_requests = sum(1 for r in sandbox.requests if r.path.endswith("/profile"))
    twice = sum(1 for count in runs.values() if count > 1)
    return [
        f"  two replicas, {ROUNDS:,} rounds due within {WINDOW_S:g} s against the sandbox: "
        f"{len(runs):,} run, {twice} twice, {done:,} done in the database, in {elapsed:.1f} s"
        f" → {len(runs) / elapsed:.0f} rounds/s (10,000 watches in an hour need"
        f" {HOUR_RATE:.1f}/s)",
        f"  Ecwid profile requests: {profile_requests:,} (one per round, plus the ordinary checks)",
        f"  CPU per watch round (the whole check, claim, finish): {round_cpu * 1000:.2f} ms;"
        f" one ordinary check: {ordinary_cpu * 1000:.2f} ms (both replicas in this process)",
    ]


async def _measure() -> list[str]:
    lines = ["Timed work (follow-ups, reminders) at scale"]
    with tempfile.TemporaryDirectory(prefix="bench-timed-") as directory:
        sqlite = f"sqlite+aiosqlite:///{directory}/timed.sqlite3"
        lines.append(
            f"  claim {CLAIM:,} of {ITEMS:,} due items on SQLite: "
            f"{await _claim_time(sqlite) * 1000:.1f} ms (median)"
        )
    server = postgres_server()
    if server is None:
        lines.append(SKIPPED)
        return lines
    async with scratch_database(server, "bench_timed") as url:
        lines.append(
            f"  claim {CLAIM:,} of {ITEMS:,} due items on PostgreSQL: "
            f"{await _claim_time(url) * 1000:.1f} ms (median)"
        )
    async with scratch_database(server, "bench_timed") as url:
        lines += await _replicas(url)
    return lines


def run() -> list[str]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
    sys.exit(0)
