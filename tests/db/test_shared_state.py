"""State shared by bot processes: Slack retry deduplication, token cool-downs, the budget."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from bot.db.database import Database
from bot.db.shared import DatabaseSeenKeys, DatabaseTokenGuard
from bot.engine.guard import FlightState, MemoryTokenGuard
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


def _guards_of_two_processes(
    database: Database, second: Database, clock: FakeClock, budget_per_minute: int
) -> tuple[DatabaseTokenGuard, DatabaseTokenGuard]:
    """`here` and `there`: a token guard in each of two processes on one database, with a
    cool-down of 60 s and a budget of `budget_per_minute` failing requests."""
    return (
        DatabaseTokenGuard(database, 60, budget_per_minute, clock=clock),
        DatabaseTokenGuard(second, 60, budget_per_minute, clock=clock),
    )


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
    here, there = _guards_of_two_processes(database, second, clock, 300)

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
    here, there = _guards_of_two_processes(database, second, clock, 10)

    first = await here.reserve(6, 30)
    assert first.reservation is not None
    await here.settle(first.reservation, 6)
    clock.advance(20)
    third = await there.reserve(3, 30)
    assert third.reservation is not None
    await there.settle(third.reservation, 3)

    refused = await there.reserve(2, 30)
    assert refused.reservation is None
    assert refused.failures_wait_s == pytest.approx(40)  # when the first 6 leave the window
    assert (await here.reserve(8, 30)).failures_wait_s == pytest.approx(60)  # all 9 must leave
    clock.advance(40)
    assert (await here.reserve(7, 30)).granted


async def test_concurrent_reservations_cannot_overdraw_the_budget(
    database: Database, second: Database, clock: FakeClock
) -> None:
    guards = [DatabaseTokenGuard(db, 60, 30, clock=clock) for db in (database, second)]

    admissions = await asyncio.gather(*(guards[n % 2].reserve(5, 30) for n in range(20)))

    assert sum(admission.granted for admission in admissions) == 6  # 6 x 5 = the budget of 30
    refused = [admission for admission in admissions if not admission.granted]
    # Held by reservations in flight, not by failures: the refused wait for answers, briefly.
    assert all(admission.failures_wait_s == 0 for admission in refused)


async def test_a_settlement_gives_back_exactly_what_its_reservation_did_not_fail(
    database: Database, second: Database, clock: FakeClock
) -> None:
    here, there = _guards_of_two_processes(database, second, clock, 10)

    mine = await here.reserve(5, 30)
    theirs = await there.reserve(5, 30)
    assert mine.reservation is not None
    assert theirs.reservation is not None
    await there.settle(theirs.reservation, 5)  # all five of theirs failed
    await here.settle(mine.reservation, 1)
    await here.settle(mine.reservation, 0)  # settling twice changes nothing

    assert (await here.reserve(4, 30)).granted
    refused = await here.reserve(1, 30)
    assert not refused.granted
    assert refused.failures_wait_s == 0  # the 4 in flight block it, not failures
    clock.advance(60)
    assert (await here.reserve(1, 30)).granted  # the failures left the window


async def test_a_reservation_never_settled_counts_as_failed_when_its_lease_ends(
    database: Database, clock: FakeClock
) -> None:
    guard = DatabaseTokenGuard(database, 60, 10, clock=clock)
    assert (await guard.reserve(10, 20)).granted  # its process is killed: never settled

    clock.advance(21)
    refused = await guard.reserve(1, 20)
    assert not refused.granted
    assert refused.failures_wait_s == pytest.approx(59)  # a minute from the lease's end
    clock.advance(59)
    assert (await guard.reserve(10, 20)).granted


async def test_one_flight_per_token_across_processes(
    database: Database, second: Database, clock: FakeClock
) -> None:
    here, there = _guards_of_two_processes(database, second, clock, 300)

    claims = await asyncio.gather(*(g.claim_flight("fp1", 25) for g in (here, there) * 3))
    owners = [claim.flight for claim in claims if claim.flight is not None]
    assert len(owners) == 1
    assert {claim.running for claim in claims if claim.flight is None} == set(owners)
    assert (await there.flight_state("fp1", owners[0])).running

    await here.finish_flight("fp1", owners[0], verdict='{"v": 1}', cool_down=True)

    assert await there.flight_state("fp1", owners[0]) == FlightState(False, '{"v": 1}')
    assert (await there.claim_flight("fp1", 25)).cooling_s == 60
    clock.advance(60)
    assert (await there.claim_flight("fp1", 25)).flight is not None


async def test_a_flight_whose_owner_is_gone_is_taken_over_after_its_lease(
    database: Database, second: Database, clock: FakeClock
) -> None:
    here, there = _guards_of_two_processes(database, second, clock, 300)
    gone = await here.claim_flight("fp1", 25)
    assert gone.flight is not None

    clock.advance(24)
    assert (await there.claim_flight("fp1", 25)).running == gone.flight
    clock.advance(1)
    assert await there.flight_state("fp1", gone.flight) == FlightState(False, None)
    taken = await there.claim_flight("fp1", 25)
    assert taken.flight is not None
    await here.finish_flight("fp1", gone.flight, verdict="late", cool_down=False)  # too late
    assert (await there.flight_state("fp1", taken.flight)).running


async def test_the_database_guard_answers_like_the_memory_guard(
    database: Database, clock: FakeClock
) -> None:
    start = clock()
    memory = MemoryTokenGuard(30, 20, clock=lambda: (clock() - start).total_seconds())
    shared = DatabaseTokenGuard(database, 30, 20, clock=clock)
    rng = random.Random(7)
    reservations: list[tuple[str, str, int]] = []

    for _ in range(200):
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
                requests, lease = rng.randrange(1, 8), rng.choice([5, 40])
                expected_admission = await memory.reserve(requests, lease)
                admission = await shared.reserve(requests, lease)
                assert admission.granted == expected_admission.granted
                assert admission.wait_s == pytest.approx(expected_admission.wait_s)
                assert admission.failures_wait_s == pytest.approx(
                    expected_admission.failures_wait_s
                )
                if admission.reservation and expected_admission.reservation:
                    reservations.append(
                        (expected_admission.reservation, admission.reservation, requests)
                    )
            case _:
                if reservations:
                    in_memory, in_database, requests = reservations.pop(
                        rng.randrange(len(reservations))
                    )
                    failing = rng.randrange(requests + 1)
                    await memory.settle(in_memory, failing)
                    await shared.settle(in_database, failing)
