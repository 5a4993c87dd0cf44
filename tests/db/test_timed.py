"""Timed work in the database: items come due, are claimed by exactly one process, leased,
taken over once their owner is gone, repeated, retried, cancelled; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db.database import Database
from bot.db.models import TimedWorkRow
from bot.db.timed import MAX_ATTEMPTS, Again, TimedState, TimedWork
from tests.db.test_database import table_rows
from tests.db_fixtures import (  # noqa: F401
    START,
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

LEASE_S = 30
KIND = "follow_up"


def worker(database: Database, *, seed: int = 0) -> TimedWork:
    return TimedWork(database, LEASE_S, rng=random.Random(seed))


async def rows(database: Database) -> list[sa.RowMapping]:
    """The table as the model reads it (times as aware datetimes on both databases)."""
    async with database.engine.connect() as connection:
        return list((await connection.execute(sa.select(TimedWorkRow))).mappings())


async def state_of(database: Database, item_id: str) -> sa.RowMapping:
    (row,) = [row for row in await rows(database) if row["id"] == item_id]
    return row


async def test_an_item_is_claimed_only_once_it_is_due(database: Database, clock: FakeClock) -> None:
    work = worker(database)
    item_id = await work.schedule(KIND, START + timedelta(minutes=10), {"follow_up": "F1"})

    assert await work.claim({KIND}, 10) == []
    clock.advance(599)
    assert await work.claim({KIND}, 10) == []
    clock.advance(1)
    (item,) = await work.claim({KIND}, 10)
    assert (item.id, item.kind, item.payload, item.attempts) == (
        item_id,
        KIND,
        {"follow_up": "F1"},
        1,
    )


async def test_only_the_kinds_a_process_runs_are_claimed(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database)
    await work.schedule("watch", START, {})

    assert await work.claim({KIND}, 10) == []
    assert [item.kind for item in await work.claim({KIND, "watch"}, 10)] == ["watch"]


async def test_a_claimed_item_is_taken_over_only_once_its_owners_lease_has_passed(
    database: Database, clock: FakeClock
) -> None:
    owner, other = worker(database), worker(database)
    await owner.schedule(KIND, START, {})
    (item,) = await owner.claim({KIND}, 10)

    clock.advance(LEASE_S * 0.9)
    await owner.renew([item.id])  # alive: the lease moves on
    clock.advance(LEASE_S * 0.9)
    assert await other.claim({KIND}, 10) == []
    clock.advance(LEASE_S)  # the owner stopped renewing: it is gone

    (taken,) = await other.claim({KIND}, 10)
    assert (taken.id, taken.attempts) == (item.id, 2)
    # The old owner's late finish changes nothing: the item is the new owner's.
    assert await owner.finish(item) is False
    assert await other.finish(taken) is True
    assert (await state_of(database, item.id))["state"] == TimedState.DONE


async def test_a_finished_item_is_never_claimed_again(database: Database, clock: FakeClock) -> None:
    work = worker(database)
    await work.schedule(KIND, START, {})
    (item,) = await work.claim({KIND}, 10)
    assert await work.finish(item)

    clock.advance(LEASE_S * 10)
    assert await work.claim({KIND}, 10) == []
    row = await state_of(database, item.id)
    assert (row["state"], row["runs"], row["owner"]) == (TimedState.DONE, 1, None)


async def test_again_waits_for_the_next_run_with_the_new_payload(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database)
    await work.schedule(KIND, START, {"round": 1})
    (item,) = await work.claim({KIND}, 10)

    assert await work.finish(item, Again(START + timedelta(minutes=10), {"round": 2}))
    clock.advance(599)
    assert await work.claim({KIND}, 10) == []
    clock.advance(1)
    (again,) = await work.claim({KIND}, 10)
    assert (again.id, again.payload, again.attempts, again.runs) == (item.id, {"round": 2}, 1, 1)


async def test_a_key_makes_one_item_however_often_it_is_scheduled(
    database: Database, clock: FakeClock
) -> None:
    first, second = worker(database), worker(database)
    results = await asyncio.gather(
        *(
            (first if n % 2 else second).schedule(KIND, START, {"n": n}, key="escalation:E1:1")
            for n in range(6)
        )
    )

    assert len([result for result in results if result is not None]) == 1
    assert len(await table_rows(database, "timed_work")) == 1


async def test_a_cancelled_item_stays_cancelled_even_while_its_handler_runs(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database)
    await work.schedule(KIND, START, {}, subject="F1")
    await work.schedule("watch", START, {}, subject="F1")
    await work.schedule(KIND, START, {}, subject="F2")
    (running, *_rest) = await work.claim({KIND}, 1)
    assert running.subject == "F1"

    assert await work.cancel(subject="F1", kinds={KIND}) == 1
    assert await work.holds(running) is False
    assert await work.finish(running, Again(START + timedelta(minutes=1))) is False
    clock.advance(LEASE_S * 10)
    assert [item.subject for item in await work.claim({KIND}, 10)] == ["F2"]
    assert [item.kind for item in await work.open_items(subjects={"F1"})] == ["watch"]


async def test_a_failing_handler_is_retried_later_then_given_up(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database)
    await work.schedule(KIND, START, {})
    waits = []
    for _ in range(MAX_ATTEMPTS):
        clock.advance(3600)
        (item,) = await work.claim({KIND}, 10)
        assert await work.failed(item, RuntimeError("Ecwid said secret_abc… no"))
        row = await state_of(database, item.id)
        if row["state"] == TimedState.PENDING:
            waits.append(row["due_at"] - clock())

    row = await state_of(database, item.id)
    assert (row["state"], row["last_error"]) == (TimedState.FAILED, "RuntimeError")
    assert waits == sorted(waits)  # backing off
    assert waits[0] > timedelta(0)
    clock.advance(3600 * 24)
    assert await work.claim({KIND}, 10) == []


async def test_an_item_that_kills_its_process_is_given_up_after_so_many_claims(
    database: Database, clock: FakeClock
) -> None:
    await worker(database).schedule(KIND, START, {})
    for _ in range(MAX_ATTEMPTS):
        assert len(await worker(database).claim({KIND}, 10)) == 1  # then the process dies
        clock.advance(LEASE_S + 1)

    assert await worker(database).claim({KIND}, 10) == []
    (row,) = await rows(database)
    assert row["state"] == TimedState.FAILED


async def test_released_items_are_due_at_once_for_the_next_process(
    database: Database, clock: FakeClock
) -> None:
    stopping, next_one = worker(database), worker(database)
    await stopping.schedule(KIND, START, {})
    (item,) = await stopping.claim({KIND}, 10)

    await stopping.release([item.id])
    (taken,) = await next_one.claim({KIND}, 10)
    assert (taken.id, taken.attempts) == (item.id, 1)  # a clean stop is not a failed attempt


async def test_spread_items_do_not_all_come_due_in_the_same_second(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database, seed=7)
    for n in range(1000):
        await work.schedule("watch", START, {"n": n}, spread_s=3600)

    due = [row["due_at"] for row in await rows(database)]
    per_second = collections.Counter(int((at - START).total_seconds()) for at in due)
    assert max(per_second.values()) <= 5
    assert min(per_second) >= 0
    assert max(per_second) < 3600
    assert await work.next_due({"watch"}) == min(due)


async def test_finished_items_are_purged_after_a_day_open_ones_never(
    database: Database, clock: FakeClock
) -> None:
    work = worker(database)
    await work.schedule(KIND, START, {})
    await work.schedule(KIND, START + timedelta(days=30), {})
    (item,) = await work.claim({KIND}, 10)
    await work.finish(item)

    clock.advance(3600 * 23)
    assert await work.purge() == 0
    clock.advance(3600 * 2)
    assert await work.purge() == 1
    assert len(await work.open_items()) == 1


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=st.integers(min_value=1, max_value=60),
    processes=st.integers(min_value=2, max_value=4),
    batch=st.integers(min_value=1, max_value=25),
)
async def test_racing_processes_claim_each_due_item_exactly_once(
    database_url: str, items: int, processes: int, batch: int
) -> None:
    clock = FakeClock()
    # Each process has its own engine (its own pool), as replicas do.
    databases = [Database.from_url(database_url, clock=clock) for _ in range(processes)]
    try:
        await databases[0].migrate()
        workers = [worker(database) for database in databases]
        for n in range(items):
            await workers[0].schedule(KIND, START, {"n": n})
        claimed: collections.Counter[str] = collections.Counter()

        async def drain(work: TimedWork) -> None:
            while batch_items := await work.claim({KIND}, batch):
                claimed.update(item.id for item in batch_items)
                for item in batch_items:
                    await work.finish(item)

        await asyncio.gather(*(drain(work) for work in workers))
        assert len(claimed) == items
        assert set(claimed.values()) == {1}
        ended = await rows(databases[0])
        assert {(row["state"], row["runs"]) for row in ended} == {(TimedState.DONE, 1)}
        async with databases[0].engine.begin() as connection:
            await connection.exec_driver_sql("DELETE FROM timed_work")
    finally:
        for database in databases:
            await database.close()


@pytest.mark.parametrize("limit", [1, 7])
async def test_a_claim_takes_the_earliest_due_first(
    database: Database, clock: FakeClock, limit: int
) -> None:
    work = worker(database)
    for minutes in (5, 1, 3, 2, 4, 0, 6, 9, 8, 7):
        await work.schedule(KIND, START - timedelta(minutes=minutes), {"m": minutes})

    claimed = await work.claim({KIND}, limit)
    assert [item.payload["m"] for item in claimed] == list(range(9, 9 - limit, -1))
