"""State shared by bot processes: Slack retry deduplication, token cool-downs, the budget."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from bot.engine.guard import MemoryTokenGuard
from bot.history.database import Database
from bot.history.shared import DatabaseSeenKeys, DatabaseTokenGuard
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)


@pytest.fixture
async def second(
    database: Database, database_url: str, clock: FakeClock
) -> AsyncIterator[Database]:
    """Another `Database` on the same database, as another bot process would have."""
    other = Database.from_url(database_url, clock=clock)
    yield other
    await other.close()


async def test_a_key_is_new_once_across_processes(
    database: Database, second: Database, clock: FakeClock
) -> None:
    instances = [DatabaseSeenKeys(database, clock=clock), DatabaseSeenKeys(second, clock=clock)]

    results = await asyncio.gather(
        *(instances[attempt % 2].first_time("event:Ev0001") for attempt in range(20))
    )

    assert results.count(True) == 1
    assert await instances[1].first_time("event:Ev0002")
    assert not await instances[0].first_time("event:Ev0002")


async def test_a_key_is_new_again_after_its_time_to_live(
    database: Database, clock: FakeClock
) -> None:
    seen = DatabaseSeenKeys(database, ttl_s=600, clock=clock)
    assert await seen.first_time("k")
    clock.advance(599)
    assert not await seen.first_time("k")
    clock.advance(1)
    assert await seen.first_time("k")
    assert not await seen.first_time("k")


async def test_expired_keys_are_pruned(database: Database, clock: FakeClock) -> None:
    seen = DatabaseSeenKeys(database, ttl_s=10, clock=clock)
    seen.PRUNE_EVERY = 5
    for number in range(4):
        assert await seen.first_time(f"old{number}")
    clock.advance(10)
    assert await seen.first_time("new")  # the fifth call prunes

    async with database.engine.connect() as connection:
        count = await connection.scalar(sa.text("SELECT count(*) FROM seen_keys"))
    assert count == 1


async def test_a_cool_down_holds_in_every_process(
    database: Database, second: Database, clock: FakeClock
) -> None:
    here = DatabaseTokenGuard(database, 60, 300, clock=clock)
    there = DatabaseTokenGuard(second, 60, 300, clock=clock)

    await here.cool_down("fp1")

    assert await there.cooldown_remaining("fp1") == 60
    assert await there.cooldown_remaining("fp2") == 0
    clock.advance(45)
    assert await there.cooldown_remaining("fp1") == 15
    await there.cool_down("fp1")
    assert await here.cooldown_remaining("fp1") == 60
    clock.advance(60)
    assert await here.cooldown_remaining("fp1") == 0


async def test_the_budget_is_shared_across_processes(
    database: Database, second: Database, clock: FakeClock
) -> None:
    here = DatabaseTokenGuard(database, 60, 10, clock=clock)
    there = DatabaseTokenGuard(second, 60, 10, clock=clock)

    await here.spend(6)
    clock.advance(20)
    await there.spend(3)

    assert await there.budget_wait(1) == 0
    assert await there.budget_wait(2) == pytest.approx(40)  # when the first 6 leave the window
    assert await here.budget_wait(8) == pytest.approx(60)  # only once all 9 have left
    clock.advance(40)
    assert await here.budget_wait(7) == 0


async def test_concurrent_reservations_cannot_overdraw_the_budget(
    database: Database, second: Database, clock: FakeClock
) -> None:
    guards = [DatabaseTokenGuard(db, 60, 30, clock=clock) for db in (database, second)]

    waits = await asyncio.gather(*(guards[n % 2].reserve(5) for n in range(20)))

    assert sum(wait == 0 for wait in waits) == 6  # 6 x 5 = the budget of 30


async def test_a_refund_frees_the_budget(database: Database, clock: FakeClock) -> None:
    guard = DatabaseTokenGuard(database, 60, 10, clock=clock)

    assert await guard.reserve(10) == 0
    assert await guard.reserve(5) > 0
    await guard.refund(8)

    assert await guard.reserve(5) == 0


async def test_the_database_guard_answers_like_the_memory_guard(
    database: Database, clock: FakeClock
) -> None:
    start = clock()
    memory = MemoryTokenGuard(30, 20, clock=lambda: (clock() - start).total_seconds())
    shared = DatabaseTokenGuard(database, 30, 20, clock=clock)
    rng = random.Random(7)

    for _ in range(150):
        clock.advance(rng.choice([0, 0.5, 1, 3, 7, 20]))
        fingerprint = f"fp{rng.randrange(4)}"
        match rng.randrange(4):
            case 0:
                await memory.cool_down(fingerprint)
                await shared.cool_down(fingerprint)
            case 1:
                expected = await memory.cooldown_remaining(fingerprint)
                assert await shared.cooldown_remaining(fingerprint) == pytest.approx(expected)
            case 2:
                requests = rng.randrange(1, 8)
                expected = await memory.budget_wait(requests)
                assert await shared.budget_wait(requests) == pytest.approx(expected)
            case _:
                requests = rng.randrange(1, 6)
                await memory.spend(requests)
                await shared.spend(requests)
