"""The timed work runner: items run when due, each exactly once across replicas, leases kept
alive while a handler works, what is held given back on a clean stop, and after kill -9 nothing
lost and nothing done twice; on SQLite and PostgreSQL, with the real clock."""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db.database import Database
from bot.db.models import TimedWorkRow, utcnow
from bot.db.timed import Again, TimedItem, TimedState, TimedWork
from bot.metrics import Metrics
from bot.slack.tasks import TaskSupervisor
from bot.slack.timed import TimedHandler, TimedWorkRunner
from tests.db_fixtures import database_url_fixture, fresh_postgres_url  # noqa: F401
from tests.slack.processes import until
from tests.slack.timed_worker import KIND

LEASE_S = 1.5


@asynccontextmanager
async def replica(
    url: str, handler: TimedHandler, *, lease_s: float = LEASE_S, timeout_s: float = 30
) -> AsyncIterator[TimedWorkRunner]:
    """A runner with its own engine, as a bot process has; stopped and released on the way
    out, as `BotServices.aclose` does."""
    database = Database.from_url(url)
    await database.migrate()
    tasks = TaskSupervisor()
    runner = TimedWorkRunner(
        TimedWork(database, lease_s), Metrics(), tasks.spawn, timeout_s=timeout_s, poll_s=0.1
    )
    runner.handle({KIND: handler})
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
        await tasks.drain(1)
        await runner.release()
        await database.close()


async def items_in(url: str) -> list[sa.RowMapping]:
    database = Database.from_url(url)
    try:
        async with database.engine.connect() as connection:
            return list((await connection.execute(sa.select(TimedWorkRow))).mappings())
    finally:
        await database.close()


async def schedule(
    url: str, count: int, *, payload: Callable[[int], dict[str, object]], spread_s: float = 1.0
) -> None:
    """`count` items due in half a second, spread over `spread_s` (none: due in their order)."""
    database = Database.from_url(url)
    try:
        await database.migrate()
        work = TimedWork(database, LEASE_S)
        soon = utcnow() + timedelta(seconds=0.5)
        for n in range(count):
            at = soon + timedelta(milliseconds=0 if spread_s else n)
            await work.schedule(KIND, at, payload(n), spread_s=spread_s)
    finally:
        await database.close()


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {seconds} s")


async def all_done(url: str, *runners: TimedWorkRunner, seconds: float = 30) -> None:
    """Wait until every item is done and no runner holds one: nothing can run again."""
    for _ in range(int(seconds / 0.05)):
        done = all(row["state"] == TimedState.DONE for row in await items_in(url))
        if done and not any(runner.running for runner in runners):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"every item done within {seconds} s")


async def test_two_replicas_run_each_due_item_exactly_once(database_url: str) -> None:
    runs: collections.Counter[str] = collections.Counter()

    async def job(item: TimedItem) -> None:
        runs[item.id] += 1
        await asyncio.sleep(0.01)

    await schedule(database_url, 120, payload=lambda n: {"n": n})
    async with replica(database_url, job) as first, replica(database_url, job) as second:
        await wait_for(lambda: sum(runs.values()) >= 120, 60, "every item ran")
        await all_done(database_url, first, second)  # no item can run again from here
        assert first.work.owner != second.work.owner
    assert len(runs) == 120
    assert set(runs.values()) == {1}
    ended = await items_in(database_url)
    assert {(row["state"], row["runs"]) for row in ended} == {(TimedState.DONE, 1)}


async def test_a_repeating_item_runs_at_each_due_time_and_then_ends(database_url: str) -> None:
    rounds: list[int] = []

    async def job(item: TimedItem) -> Again | None:
        rounds.append(int(str(item.payload["round"])))
        if len(rounds) == 3:
            return None
        return Again(utcnow() + timedelta(seconds=0.2), {"round": len(rounds) + 1})

    await schedule(database_url, 1, payload=lambda _n: {"round": 1})
    async with replica(database_url, job) as first, replica(database_url, job) as second:
        await wait_for(lambda: len(rounds) == 3, 30, "three rounds")
        await all_done(database_url, first, second)
    assert rounds == [1, 2, 3]
    ((state, runs),) = {(row["state"], row["runs"]) for row in await items_in(database_url)}
    assert (state, runs) == (TimedState.DONE, 3)


async def test_a_handler_working_longer_than_the_lease_keeps_its_item(
    database_url: str,
) -> None:
    runs: collections.Counter[str] = collections.Counter()

    async def slow_job(item: TimedItem) -> None:
        runs[item.id] += 1
        await asyncio.sleep(LEASE_S * 3)  # the lease is renewed meanwhile

    await schedule(database_url, 3, payload=lambda n: {"n": n})
    async with replica(database_url, slow_job), replica(database_url, slow_job):
        await wait_for(lambda: sum(runs.values()) == 3 and len(runs) == 3, 30, "every item started")
        await asyncio.sleep(LEASE_S * 4)
    assert set(runs.values()) == {1}


async def test_a_clean_stop_gives_what_it_holds_to_the_next_process_at_once(
    database_url: str,
) -> None:
    started: list[str] = []
    finished: list[str] = []
    release = asyncio.Event()

    async def stuck(item: TimedItem) -> None:
        started.append(item.id)
        await release.wait()

    async def quick(item: TimedItem) -> None:
        finished.append(item.id)

    await schedule(database_url, 4, payload=lambda n: {"n": n})
    async with replica(database_url, stuck, lease_s=60):
        await wait_for(lambda: len(started) == 4, 30, "every item started")
    # The lease (60 s) has not passed: only the release makes them due again.
    async with replica(database_url, quick, lease_s=60):
        await wait_for(lambda: len(finished) == 4, 10, "every item finished by the next process")
    assert sorted(finished) == sorted(started)


async def test_a_failing_handler_leaves_its_item_for_a_later_try(database_url: str) -> None:
    tries: list[int] = []

    async def broken(item: TimedItem) -> None:
        tries.append(item.attempts)
        raise RuntimeError("Ecwid is down")

    await schedule(database_url, 1, payload=lambda _n: {})
    async with replica(database_url, broken) as runner:
        await wait_for(lambda: len(tries) == 1, 30, "the first try")
        for _ in range(600):  # the failure written, the runner free
            ((row),) = await items_in(database_url)
            if row["last_error"] is not None and runner.running == 0:
                break
            await asyncio.sleep(0.05)
        failed_at = utcnow()
    assert (row["state"], row["last_error"]) == (TimedState.PENDING, "RuntimeError")
    assert row["due_at"] > failed_at  # tried again later, not at once
    assert tries == [1]


@pytest.mark.process
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_9_while_holding_leases_loses_nothing_and_doubles_nothing(
    backend: str, tmp_path: Path
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'timed.sqlite3'}"
        if backend == "sqlite"
        else await fresh_postgres_url()
    )
    log = tmp_path / "done.log"
    # Twenty quick items first, then twenty that the first process never finishes.
    await schedule(url, 40, payload=lambda n: {"slow": n >= 20}, spread_s=0)

    def lines() -> list[str]:
        return log.read_text().split() if log.exists() else []

    def start(name: str, mode: str) -> asyncio.subprocess.Process:
        return asyncio.create_subprocess_exec(  # type: ignore[return-value]
            sys.executable,
            "-m",
            "tests.slack.timed_worker",
            url,
            str(log),
            str(LEASE_S),
            mode,
            stderr=(tmp_path / f"{name}.log").open("w"),
        )

    first = await start("first", "hang")
    try:

        async def holding() -> bool:
            """The quick items done, the slow ones all held by the first process."""
            states = collections.Counter(row["state"] for row in await items_in(url))
            return states == {TimedState.DONE: 20, TimedState.RUNNING: 20}

        await until(lambda: len(lines()) == 20, 60, "the quick items done", tmp_path)
        for _ in range(600):
            if await holding():
                break
            await asyncio.sleep(0.1)
        assert await holding()
    finally:
        first.kill()
        await first.wait()

    # The killed process's leases run out; a restarted process (and, on PostgreSQL, a second
    # replica) take its items over.
    successors = [await start("second", "work")]
    if backend == "postgresql":
        successors.append(await start("replica", "work"))
    try:
        await until(lambda: len(lines()) >= 40, 60, "every item done", tmp_path)
        for _ in range(100):
            ended = await items_in(url)
            if all(row["state"] == TimedState.DONE for row in ended):
                break
            await asyncio.sleep(0.1)
    finally:
        # A clean stop: a run still going (a doubled one) ends, its line written, before the
        # process exits; what the log holds then is all there will be. A successor that found
        # nothing left to do may still be starting: SIGTERM waits until it listens for it.
        started = log.with_suffix(".started")
        await until(
            lambda: len(started.read_text().split()) == 1 + len(successors),
            60,
            "every successor listening for SIGTERM",
            tmp_path,
        )
        for process in successors:
            process.terminate()
        for process in successors:
            assert await process.wait() == 0
    counts = collections.Counter(lines())
    assert len(counts) == 40
    assert set(counts.values()) == {1}, counts
    assert {(row["state"], row["runs"]) for row in await items_in(url)} == {(TimedState.DONE, 1)}


async def test_an_item_whose_end_could_not_be_written_is_ended_once_the_database_answers(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A process never takes back its own items (its lease may only be late), so an end it
    # could not write during a database outage must be written later, not given up: with one
    # replica, the item would otherwise stay running, never run again, until a restart.
    runs: list[int] = []
    outage = Database.from_url(database_url)

    async def rename(old: str, new: str) -> None:
        async with outage.engine.begin() as connection:
            await connection.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))

    async def job(item: TimedItem) -> None:
        runs.append(item.attempts)
        await rename("timed_work", "timed_work_away")  # the database fails from here

    await schedule(database_url, 1, payload=lambda _n: {})
    try:
        async with replica(database_url, job) as runner:
            await wait_for(
                lambda: "timed work: the database failed" in caplog.text, 30, "the outage seen"
            )
            await rename("timed_work_away", "timed_work")
            await wait_for(lambda: runner.running == 0, 30, "the end written")
    finally:
        await outage.close()
    ((row),) = await items_in(database_url)
    assert (row["state"], row["runs"]) == (TimedState.DONE, 1)
    assert runs == [1]


async def test_an_item_still_running_while_its_process_drains_is_not_taken_over(
    database_url: str,
) -> None:
    # Stopping ends the claiming, not the leases: what runs on during the drain is still this
    # process's, or another replica would run it a second time meanwhile.
    runs: collections.Counter[str] = collections.Counter()

    async def slow_job(item: TimedItem) -> None:
        runs[item.id] += 1
        await asyncio.sleep(LEASE_S * 3)

    await schedule(database_url, 1, payload=lambda _n: {})
    database = Database.from_url(database_url)
    tasks = TaskSupervisor()
    stopping = TimedWorkRunner(
        TimedWork(database, LEASE_S), Metrics(), tasks.spawn, timeout_s=30, poll_s=0.1
    )
    stopping.handle({KIND: slow_job})
    stopping.start()
    try:
        await wait_for(lambda: bool(runs), 30, "the item started")
        await stopping.stop()
        async with replica(database_url, slow_job):
            await tasks.drain(LEASE_S * 6)  # the item finishes within its drain
        await stopping.release()
    finally:
        await database.close()
    assert list(runs.values()) == [1]
    ((row),) = await items_in(database_url)
    assert (row["state"], row["runs"]) == (TimedState.DONE, 1)
