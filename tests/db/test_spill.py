"""The journal's spill to disk: what the database refuses survives the process, and is published
once the database answers, as the dead process's, for the usual take-over; never a secret in
plain text; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.db.database import Database
from bot.db.health import DatabaseHealth
from bot.db.journal import CheckJournal
from bot.db.spill import JournalSpill
from bot.db.vault import new_key
from bot.engine.intake import CredentialsPaste
from tests.db.test_database import random_token
from tests.db.test_journal import LEASE_S, PLACE, TTL, paste, unreachable
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)


def spilling_journal(
    database: Database, clock: FakeClock, directory: Path, key: str | None = None
) -> CheckJournal:
    vault = database.vault(SecretStr(key) if key else None, TTL)
    return CheckJournal(
        database,
        vault,
        DatabaseHealth(clock=clock),
        lease_s=LEASE_S,
        clock=clock,
        spill_directory=directory,
    )


def spill_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("journal-spill-*.sqlite3"))


async def accepted_during_an_outage(
    clock: FakeClock, directory: Path, paste_: CredentialsPaste | None = None, *, key: str = ""
) -> CheckJournal:
    """A journal whose database is not there, holding one check it has just accepted."""
    down = unreachable()
    try:
        kept = spilling_journal(down, clock, directory, key=key or None)
        await kept.accept(PLACE, paste_)
        await kept.heartbeat()
    finally:
        await down.close()
    return kept


async def test_entries_the_database_refuses_are_taken_over_after_their_process_died(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    down = unreachable()
    try:
        dying = spilling_journal(down, clock, tmp_path)
        first = await dying.accept(PLACE, None, view_id="V0001")
        second = await dying.accept(PLACE, None)
        await dying.done(second)  # answered during the outage: nothing left to do for it
    finally:
        await down.close()
    assert len(spill_files(tmp_path)) == 1
    # The process is killed: its lock on the file goes with it.
    dying._spill._lock.close()  # type: ignore[union-attr]

    successor = spilling_journal(database, clock, tmp_path)
    await successor.heartbeat()  # the database answers: the dead process's entries go in
    assert spill_files(tmp_path) == []
    assert await successor.claim_orphans() == []  # the dead owner's lease has not passed yet
    clock.advance(LEASE_S * 2)

    (claimed,) = await successor.claim_orphans()
    assert (claimed.id, claimed.view_id) == (first, "V0001")


async def test_the_spill_of_a_live_process_is_left_alone(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await accepted_during_an_outage(clock, tmp_path)  # its process lives on

    other = spilling_journal(database, clock, tmp_path)
    await other.heartbeat()
    clock.advance(LEASE_S * 2)

    assert len(spill_files(tmp_path)) == 1  # still held by its process
    assert await other.claim_orphans() == []


async def test_an_entry_leaves_the_spill_once_the_database_has_it(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    kept = await accepted_during_an_outage(clock, tmp_path)
    kept._database = database  # the database is back
    await kept.heartbeat()
    spill = kept._spill
    assert spill is not None
    assert not spill._kept

    kept.close()  # a clean stop: the empty file goes
    assert spill_files(tmp_path) == []


async def test_the_spill_holds_the_paste_only_sealed(clock: FakeClock, tmp_path: Path) -> None:
    token = random_token()
    await accepted_during_an_outage(clock, tmp_path, paste(token), key=new_key())

    (path,) = spill_files(tmp_path)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("journal-spill-*"))
    assert token.encode() not in on_disk
    assert path.stat().st_mode & 0o077 == 0  # only the service's user can read it


def test_a_spill_file_no_process_holds_is_adopted_by_one_process_at_a_time(
    tmp_path: Path,
) -> None:
    gone = JournalSpill(tmp_path, "a" * 32)
    gone.keep({"id": "e1", "state": "accepted", "sealed_paste": b"\x00sealed"})
    gone._lock.close()  # type: ignore[union-attr]
    first, second = JournalSpill(tmp_path, "b" * 32), JournalSpill(tmp_path, "c" * 32)

    (orphan,) = list(first.orphans())
    assert list(second.orphans()) == []  # locked by the first while it handles it
    assert orphan.rows == [{"id": "e1", "state": "accepted", "sealed_paste": b"\x00sealed"}]
    orphan.release()
    (again,) = list(second.orphans())
    again.remove()
    assert list(first.orphans()) == []
