"""Erasure is complete: `forget` reaches every table that names a store or a person – the journal
and its spill files, the workflow steps, timed work, the verdicts of checks in flight – and every
table of the schema has a decision, so that a new one cannot be forgotten by `forget`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bot.db.database import Database
from bot.db.erasure import ERASED, ERASURE, NAMES_NO_ONE, Subject, forget
from bot.db.health import DatabaseHealth
from bot.db.journal import Answer, CheckJournal
from bot.db.models import Base, TokenFlightRow
from bot.db.vault import CredentialVault, new_key
from bot.engine.intake import CredentialsPaste
from bot.engine.redaction import EcwidToken, StoreCredentials
from tests.db.test_database import random_token, report
from tests.db.test_journal import unreachable
from tests.db.test_retention import (
    OTHER_STORE,
    OTHER_USER,
    STORE,
    TTL,
    USER,
    _assert_no_cell_holds,
    _every_row,
    _mentions,
    _place,
)
from tests.db_fixtures import (  # noqa: F401
    clock_fixture,
    database_fixture,
    database_url_fixture,
)


def test_every_table_has_an_erasure_decision() -> None:
    """A new table fails here until `forget` decides what it erases from it (or why it names no
    one): `bot.db.erasure.ERASURE`."""
    assert sorted(ERASURE) == sorted(Base.metadata.tables)
    for table, (decision, what) in ERASURE.items():
        assert decision in (ERASED, NAMES_NO_ONE), table
        assert what, table


async def _journal_and_flights(
    database: Database, tmp_path: Path
) -> tuple[CredentialVault, dict[str, str]]:
    """Journal entries about STORE and by USER (one with only its sealed paste to tell), one of
    neither, a flight whose verdict is STORE's report, and entries a process gone during an
    outage left on disk."""
    vault = database.vault(SecretStr(new_key()), TTL)
    journal = CheckJournal(database, vault, DatabaseHealth(), lease_s=30)
    sealed = await journal.accept(
        _place(OTHER_USER),
        CredentialsPaste(StoreCredentials(STORE, EcwidToken(random_token()))),
    )
    answered = await journal.accept(_place(OTHER_USER), None)
    await journal.answered(answered, Answer(f"Store {STORE} is on the Free plan", []))
    asked = await journal.accept(_place(USER), None)
    kept = await journal.accept(_place(OTHER_USER), None)
    await journal.answered(kept, Answer(f"Store {OTHER_STORE} is on the Free plan", []))
    async with database.engine.begin() as connection:
        for fingerprint, store in (("f" * 64, STORE), ("e" * 64, OTHER_STORE)):
            await connection.execute(
                sa.insert(TokenFlightRow).values(
                    fingerprint=fingerprint,
                    flight="1" * 32,
                    lease_until=database.clock(),
                    finished=True,
                    verdict=report(store_id=store).model_dump_json(),
                )
            )
    # A process that died while its database was away: its entries are only on disk.
    away = unreachable()
    try:
        gone = CheckJournal(away, vault, DatabaseHealth(), lease_s=30, spill_directory=tmp_path)
        await gone.accept(_place(USER), None)
        on_disk = await gone.accept(_place(OTHER_USER), None)
        await gone.answered(on_disk, Answer(f"Store {STORE} is on the Free plan", []))
        await gone.accept(_place(OTHER_USER), None)  # neither: stays
        gone.close()
    finally:
        await away.close()
    return vault, {"sealed": sealed, "answered": answered, "asked": asked, "kept": kept}


def _spilled(directory: Path) -> list[dict[str, Any]]:
    rows = []
    for path in directory.glob("journal-spill-*.sqlite3"):
        with sqlite3.connect(path) as connection:
            rows += [json.loads(text) for (text,) in connection.execute("SELECT row FROM entries")]
    return rows


async def test_forgetting_a_store_reaches_the_journal_the_flights_and_the_files_on_disk(
    database: Database, tmp_path: Path
) -> None:
    vault, entries = await _journal_and_flights(database, tmp_path)

    erased = await forget(database, Subject(store_id=STORE), vault=vault, data_dir=tmp_path)

    assert (erased.journal_entries, erased.flights, erased.spilled_entries) == (2, 1, 1)
    rows = await _every_row(database)
    journal_ids = {row["id"] for table, row in rows if table == "pending_checks"}
    assert journal_ids == {entries["asked"], entries["kept"]}
    _assert_no_cell_holds(rows, STORE, [])
    assert len(_spilled(tmp_path)) == 2
    assert not any(_mentions(row, STORE) for row in _spilled(tmp_path))


async def test_forgetting_a_person_reaches_the_journal_and_the_files_on_disk(
    database: Database, tmp_path: Path
) -> None:
    vault, entries = await _journal_and_flights(database, tmp_path)

    erased = await forget(database, Subject(user_id=USER), vault=vault, data_dir=tmp_path)

    assert (erased.journal_entries, erased.flights, erased.spilled_entries) == (1, 0, 1)
    rows = await _every_row(database)
    _assert_no_cell_holds(rows, USER, [])
    assert entries["asked"] not in {row["id"] for table, row in rows if table == "pending_checks"}
    assert not any(_mentions(row, USER) for row in _spilled(tmp_path))
