"""The check journal: leases, claims by exactly one process, the paste only encrypted; the history
backlog that waits for the database; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr

from bot.db.database import Database
from bot.db.health import DatabaseHealth
from bot.db.journal import Answer, CheckJournal
from bot.db.recorder import CheckRecorder, UnwrittenCheck
from bot.db.vault import new_key
from bot.destination import Destination, EntryPoint
from bot.engine.intake import CredentialsPaste
from bot.engine.redaction import EcwidToken, StoreCredentials
from tests.db.test_database import random_token, report, table_rows
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

LEASE_S = 30
PLACE = Destination(
    team="T0001", channel="C0001", thread_ts="1700000000.000100", requester="U0001"
).started_by(EntryPoint.MODAL)
TTL = timedelta(hours=72)


def journal(database: Database, clock: FakeClock, *, key: str | None = None) -> CheckJournal:
    vault = database.vault(SecretStr(key) if key else None, TTL)
    return CheckJournal(database, vault, DatabaseHealth(clock=clock), lease_s=LEASE_S, clock=clock)


def paste(token: str) -> CredentialsPaste:
    return CredentialsPaste(StoreCredentials(1003, EcwidToken(token)))


async def test_an_entry_is_claimed_only_once_its_owners_lease_has_passed(
    database: Database, clock: FakeClock
) -> None:
    owner, other = journal(database, clock), journal(database, clock)
    entry_id = await owner.accept(PLACE, paste(random_token()), view_id="V0001")

    assert await other.claim_orphans() == []
    clock.advance(LEASE_S / 2)
    await owner.heartbeat()  # alive: the lease moves on
    clock.advance(LEASE_S * 0.9)
    assert await other.claim_orphans() == []
    clock.advance(LEASE_S)  # the owner stopped renewing: it is gone

    (claimed,) = await other.claim_orphans()
    assert (claimed.id, claimed.destination, claimed.view_id) == (entry_id, PLACE, "V0001")
    assert claimed.attempts == 1
    assert claimed.paste is None  # no vault: nothing to re-run with
    assert await other.claim_orphans() == []  # the new owner holds it now


async def test_of_processes_claiming_at_once_exactly_one_takes_each_entry(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    owner = journal(database, clock)
    accepted = {await owner.accept(PLACE, None) for _ in range(12)}
    clock.advance(LEASE_S * 2)
    others = [Database.from_url(database_url, clock=clock) for _ in range(3)]
    try:
        claims = await asyncio.gather(
            *(journal(other, clock).claim_orphans(limit=20) for other in others for _ in range(2))
        )
    finally:
        for other in others:
            await other.close()

    taken = [entry.id for claim in claims for entry in claim]
    assert sorted(taken) == sorted(accepted)


async def test_done_entries_are_not_taken_over_and_answered_ones_come_back_with_their_answer(
    database: Database, clock: FakeClock
) -> None:
    owner, other = journal(database, clock), journal(database, clock)
    finished = await owner.accept(PLACE, None)
    answered = await owner.accept(PLACE, None)
    moved = await owner.accept(PLACE.in_thread(None), None)
    await owner.answered(finished, Answer("done", []))
    await owner.done(finished)
    result = Answer("the result", [{"type": "divider"}], reaction="ok", check_id="c0ffee")
    await owner.answered(answered, result)
    await owner.moved(moved, PLACE.in_thread("1700000000.000900"))
    clock.advance(LEASE_S * 2)

    claimed = {entry.id: entry for entry in await other.claim_orphans()}

    assert set(claimed) == {answered, moved}
    # With its check ID: the redelivery looks for the message that carries it.
    assert claimed[answered].answer == result
    assert claimed[moved].destination.thread_ts == "1700000000.000900"
    assert claimed[moved].answer is None


async def test_with_the_vault_the_paste_is_kept_encrypted_until_the_check_is_answered(
    database: Database, clock: FakeClock
) -> None:
    key = new_key()
    owner, other = journal(database, clock, key=key), journal(database, clock, key=key)
    token = random_token()
    entry_id = await owner.accept(PLACE, paste(token))
    kept = await owner.accept(PLACE, paste(token))
    rows = await table_rows(database, "pending_checks")
    assert all(row["sealed_paste"] for row in rows)
    assert token not in repr(rows)  # encrypted, never in plain text
    await owner.answered(entry_id, Answer("the result", []))
    clock.advance(LEASE_S * 2)

    claimed = {entry.id: entry for entry in await other.claim_orphans()}

    assert claimed[kept].paste == paste(token)
    assert claimed[entry_id].paste is None  # answered: the paste was dropped
    await other.done(kept)
    done = [row for row in await table_rows(database, "pending_checks") if row["id"] == kept]
    assert done[0]["sealed_paste"] is None
    assert done[0]["state"] == "done"


async def test_a_released_lease_is_taken_over_at_once(database: Database, clock: FakeClock) -> None:
    owner, other = journal(database, clock), journal(database, clock)
    entry_id = await owner.accept(PLACE, None)
    clock.advance(0.001)  # a lease ends strictly before now
    await owner.release()
    clock.advance(0.001)

    assert [entry.id for entry in await other.claim_orphans()] == [entry_id]


async def test_given_back_entries_are_taken_again_even_by_the_same_process(
    database: Database, clock: FakeClock
) -> None:
    owner = journal(database, clock)
    entry_id = await owner.accept(PLACE, None)
    await owner.answered(entry_id, Answer("the result", []))
    await owner.later(entry_id)  # Slack kept failing
    clock.advance(0.001)

    assert [entry.id for entry in await owner.claim_orphans()] == [entry_id]


# Without the database.


def unreachable() -> Database:
    """A database whose server is not there (nothing listens on port 1): refused at once."""
    return Database.from_url("postgresql://nobody@127.0.0.1:1/none")


async def test_without_the_database_the_journal_keeps_entries_in_memory(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    database = unreachable()
    health = DatabaseHealth(clock=clock)
    kept = CheckJournal(database, database.vault(None, TTL), health, lease_s=LEASE_S, clock=clock)
    try:
        with caplog.at_level(logging.ERROR):
            first = await kept.accept(PLACE, None)
            await kept.accept(PLACE, None)
            await kept.heartbeat()
            assert await kept.claim_orphans() == []
        await kept.done(first)
    finally:
        await database.close()

    assert (kept.open_entries, kept.unwritten) == (2, 2)  # `first`, done, waits to be written
    assert health.snapshot()["journal_entries_unwritten"] == 2
    assert caplog.text.count("database unreachable") == 1


async def test_the_history_backlog_is_bounded_and_counts_what_it_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = unreachable()
    health = DatabaseHealth()
    service = CheckRecorder(database, health=health)
    service.backlog._limit = 3
    try:
        with caplog.at_level(logging.ERROR):
            ids = [await service.record(report(), PLACE) for _ in range(5)]
        assert await service.flush() == 0
    finally:
        await database.close()

    assert len(set(ids)) == 5
    assert (len(service.backlog), health.waiting_rows, health.dropped_rows) == (3, 3, 2)
    assert health.available is False
    assert caplog.text.count("history backlog full") == 2
    assert health.snapshot()["history_rows_dropped"] == 2


async def test_the_backlog_is_written_with_the_same_ids_once_the_database_answers(
    database: Database,
) -> None:
    health = DatabaseHealth()
    service = CheckRecorder(database, health=health)
    health.failed("a test", OSError())
    unwritten = [(report(store_id=n), f"{n:032x}") for n in range(1, 4)]
    for checked, check_id in unwritten:
        service.backlog.add(UnwrittenCheck(check_id, checked, PLACE, None))

    assert await service.flush() == 3

    assert health.available
    assert health.waiting_rows == 0
    for checked, check_id in unwritten:
        record = await database.check_by_id(check_id)
        assert record is not None
        assert record.store_id == checked.store_id


async def test_a_long_check_kept_alive_by_heartbeats_is_not_taken_over_when_it_answers(
    database: Database, clock: FakeClock
) -> None:
    owner, other = journal(database, clock), journal(database, clock)
    entry_id = await owner.accept(PLACE, None)
    for _ in range(3):  # the check runs for longer than a lease; its process is alive
        clock.advance(LEASE_S * 0.9)
        await owner.heartbeat()

    await owner.answered(entry_id, Answer("the result", []))
    clock.advance(LEASE_S * 0.5)

    assert await other.claim_orphans() == []
