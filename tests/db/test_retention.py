"""Retention and erasure: old history is purged by the housekeeping, and `forget` erases every
row about a store or a person, in every table, and nothing of anyone else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from bot.db.database import Database
from bot.db.models import Base
from bot.db.vault import new_key
from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.engine.intake import CredentialsPaste
from bot.engine.redaction import EcwidToken, StoreCredentials
from bot.response_targets import Urgency
from tests.db.test_database import random_token, report
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

STORE, OTHER_STORE = 987654321, 555000111
USER, OTHER_USER, AGENT = "U0FORGET1", "U0KEEP22", "U0AGENT33"
TTL = timedelta(hours=72)


def _place(user: str) -> Destination:
    return Destination(team="T0001", channel="C0001", thread_ts="1700000000.000100", requester=user)


async def _every_row(database: Database) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            result = await connection.execute(sa.select(table))
            rows += [(table.name, dict(row._mapping)) for row in result]
    return rows


def _check_ids(rows: list[tuple[str, dict[str, Any]]]) -> set[str]:
    return {row["id"] for table, row in rows if table == "checks"}


def _assert_no_cell_holds(
    rows: list[tuple[str, dict[str, Any]]], subject: object, check_ids: list[str]
) -> None:
    """No cell of any row, JSON included, holds `subject`, nor is one of `check_ids`."""
    for table, row in rows:
        for column, value in row.items():
            assert not _mentions(value, subject), (table, column)
            assert value not in check_ids, (table, column)


def _mentions(value: object, subject: object) -> bool:
    """Whether `value` (a cell, JSON included) holds `subject`."""
    if isinstance(value, dict):
        return any(_mentions(v, subject) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, subject) for v in value)
    if isinstance(value, str) and isinstance(subject, str):
        return subject in value
    return value == subject


async def _populate(database: Database) -> dict[str, list[str]]:
    """Checks, escalations and stored pastes for two stores and two people."""
    vault = database.vault(SecretStr(new_key()), TTL)
    made: dict[str, list[str]] = {"store": [], "user": [], "neither": []}
    plan = [
        (STORE, USER, "store"),
        (STORE, OTHER_USER, "store"),
        (OTHER_STORE, USER, "user"),
        (OTHER_STORE, OTHER_USER, "neither"),
    ]
    for store, user, kind in plan:
        check_id = await database.record_check(
            report(Diagnosis.TOKEN_INVALID, store_id=store),
            _place(user).started_by(EntryPoint.COMMAND),
        )
        paste = CredentialsPaste(StoreCredentials(store, EcwidToken(random_token())))
        await vault.store(check_id, paste)
        escalation = await database.create_escalation(
            check_id, _place(user), goal="migrate", urgency=Urgency.NORMAL, note="please"
        )
        await database.take(escalation.id, AGENT if kind != "neither" else USER)
        made[kind].append(check_id)
    return made


async def test_forgetting_a_store_leaves_no_row_of_it_in_any_table(database: Database) -> None:
    made = await _populate(database)

    erased = await database.forget_store(STORE)

    assert (erased.checks, erased.escalations, erased.credentials) == (2, 2, 2)
    rows = await _every_row(database)
    _assert_no_cell_holds(rows, STORE, made["store"])
    assert _check_ids(rows) == set(made["user"] + made["neither"])


async def test_forgetting_a_person_leaves_no_row_of_them_in_any_table(database: Database) -> None:
    made = await _populate(database)

    erased = await database.forget_user(USER)

    assert (erased.checks, erased.escalations, erased.credentials) == (2, 2, 2)
    rows = await _every_row(database)
    _assert_no_cell_holds(rows, USER, [made["store"][0], *made["user"]])
    assert _check_ids(rows) == {made["store"][1], made["neither"][0]}
    # The escalation USER had taken as an agent is still there, without their name.
    escalations = {row["check_id"]: row for table, row in rows if table == "escalations"}
    assert escalations[made["neither"][0]]["taken_by"] is None
    assert escalations[made["neither"][0]]["state"] == "taken"
    assert escalations[made["store"][1]]["taken_by"] == AGENT


async def test_old_history_is_purged_but_not_what_an_open_escalation_needs(
    database: Database, clock: FakeClock
) -> None:
    old_plain = await database.record_check(
        report(at=clock()), _place(USER).started_by(EntryPoint.COMMAND)
    )
    old_open = await database.record_check(
        report(at=clock()), _place(USER).started_by(EntryPoint.COMMAND)
    )
    old_resolved = await database.record_check(
        report(at=clock()), _place(USER).started_by(EntryPoint.COMMAND)
    )
    await database.create_escalation(
        old_open, _place(USER), goal="g", urgency=Urgency.NORMAL, note=""
    )
    resolved = await database.create_escalation(
        old_resolved, _place(USER), goal="g", urgency=Urgency.NORMAL, note=""
    )
    await database.resolve(resolved.id, AGENT)
    clock.advance(timedelta(days=31).total_seconds())
    fresh = await database.record_check(
        report(at=clock()), _place(USER).started_by(EntryPoint.COMMAND)
    )

    assert await database.purge_history(timedelta(days=30)) == 2

    ids = _check_ids(await _every_row(database))
    assert ids == {old_open, fresh}
    assert old_plain not in ids
    assert await database.escalation(resolved.id) is None


async def test_the_housekeeping_applies_history_retention_days(tmp_path: Path) -> None:
    from bot.settings import load_settings
    from bot.slack.services import BotServices

    settings = load_settings(
        env_file=None, data_dir=str(tmp_path), history_retention_days=1, database_url=None
    )
    services = BotServices(settings)
    try:
        await services.database.migrate()
        at = services.database.clock() - timedelta(days=2)
        old = await services.database.record_check(
            report(at=at), _place(USER).started_by(EntryPoint.CLI)
        )
        now = services.database.clock()
        new = await services.database.record_check(
            report(at=now), _place(USER).started_by(EntryPoint.CLI)
        )

        await services.housekeeping()

        assert await services.database.check_by_id(old) is None
        assert await services.database.check_by_id(new) is not None
    finally:
        await services.aclose(0)


def test_forget_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLACK_MODE", "carrier-pigeon")  # not forget's business

    assert main(["forget", "--store", "1003"]) == 0
    assert "Erased store 1003: 0 checks, 0 escalations, 0 stored credentials, 0 follow-ups" in (
        capsys.readouterr().out
    )
    assert main(["forget", "--user", "jane"]) == 2
    assert "--user takes a Slack user ID" in capsys.readouterr().err
    assert main(["forget", "--store", "abc"]) == 2
