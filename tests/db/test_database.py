"""The database: migrations, check history, escalations, the encrypted vault, and the canary."""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr

from bot.db.database import Database
from bot.db.escalations import EscalationState
from bot.db.models import Base
from bot.db.shared import DatabaseSeenKeys, DatabaseTokenGuard
from bot.db.vault import new_key
from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import Diagnosis, WarningCode
from bot.engine.intake import CollectionPaste, CredentialsPaste
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials, mask_token
from bot.engine.report import CheckReport, Count, Counts
from bot.response_targets import Urgency
from bot.settings import load_settings, normalise_url, validate_key
from tests.db_fixtures import (  # noqa: F401
    START,
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)
from tests.paths import REPO

PLACE = Destination(team="T0001", channel="C0001", thread_ts="1700000000.000100", requester="U0001")
TTL = timedelta(hours=72)
# The newest migration: what `migrate()` must leave the database at.
HEAD = max(
    path.stem.split("_", 1)[0]
    for path in (REPO / "bot" / "db" / "migrations" / "versions").glob("0*.py")
)


def report(
    diagnosis: Diagnosis = Diagnosis.OK,
    *,
    store_id: int | None = 12345678,
    at: datetime = START,
    **fields: object,
) -> CheckReport:
    values: dict[str, object] = {
        "ok": diagnosis == Diagnosis.OK,
        "diagnosis": diagnosis,
        "title": f"Check: {diagnosis.value}",
        "summary": "One sentence about this case.",
        "store_id": store_id,
        "checked_at": at,
    }
    values.update(fields)
    return CheckReport.model_validate(values)


def random_token() -> str:
    return "secret_" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(32)
    )


async def table_rows(database: Database, table: str) -> list[dict[str, object]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(sa.text(f"SELECT * FROM {table}"))
        return [dict(row._mapping) for row in result]


# Migrations.


async def test_migrate_from_empty_is_idempotent_and_safe_to_run_concurrently(
    database_url: str,
) -> None:
    first, second = Database.from_url(database_url), Database.from_url(database_url)
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        await first.migrate()
        assert await table_rows(first, "alembic_version") == [{"version_num": HEAD}]
        assert await first.checks_for_store(1) == []
    finally:
        await first.close()
        await second.close()


MIGRATE = """
import asyncio, sys
from bot.db.database import Database

async def migrate() -> None:
    database = Database.from_url(sys.argv[1])
    try:
        await database.migrate()
    finally:
        await database.close()

asyncio.run(migrate())
"""


@pytest.mark.process
async def test_processes_starting_together_all_migrate(database_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", MIGRATE, database_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    for process in processes:
        _, errors = await process.communicate()
        assert process.returncode == 0, errors.decode()
    database = Database.from_url(database_url)
    try:
        assert await table_rows(database, "alembic_version") == [{"version_num": HEAD}]
    finally:
        await database.close()


async def test_the_migration_creates_exactly_the_models(database: Database) -> None:
    def differences(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_urls_are_rewritten_for_the_async_drivers() -> None:
    assert (
        normalise_url("postgres://u:p@db.example:5432/bot?sslmode=require")
        == "postgresql+asyncpg://u:p@db.example:5432/bot?ssl=require"
    )
    assert normalise_url("postgresql://u:p@db/bot") == "postgresql+asyncpg://u:p@db/bot"
    assert normalise_url("postgresql+asyncpg://u:p@db/bot") == "postgresql+asyncpg://u:p@db/bot"
    assert normalise_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    for wrong in ("mysql://u:hunter2@db/bot", "postgresql+psycopg2://u:hunter2@db/bot", "hunter2"):
        with pytest.raises(ValueError, match="DATABASE_URL") as raised:
            normalise_url(wrong)
        assert "hunter2" not in str(raised.value)


async def test_without_database_url_a_sqlite_file_is_made_under_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    settings = load_settings(env_file=None, database_url=None, data_dir=str(data_dir))
    database = Database.from_settings(settings)
    try:
        assert database.dialect == "sqlite"
        await database.migrate()
        assert (data_dir / "ecwid-connect.sqlite3").is_file()
    finally:
        await database.close()


# Checks.


async def test_a_check_is_read_back_as_recorded(database: Database) -> None:
    token = random_token()
    recorded = report(
        Diagnosis.SCOPE_MISSING,
        store_name="Joe's Shop",
        warnings=[WarningCode.STORE_CLOSED],
        plan="VENTURE",
        token=mask_token(token),
        counts=Counts(products=Count(total=12), orders=Count(reason="no access")),
        duration_ms=1234,
    )
    check_id = await database.record_check(recorded, PLACE.started_by(EntryPoint.MODAL))

    check = await database.check_by_id(check_id)

    assert check is not None
    assert (check.id, check.created_at, check.destination) == (check_id, START, PLACE)
    assert check.created_at.tzinfo is not None
    assert (check.destination.entry, check.store_id, check.store_name) == (
        EntryPoint.MODAL,
        12345678,
        "Joe's Shop",
    )
    assert (check.diagnosis, check.warnings, check.plan) == (
        Diagnosis.SCOPE_MISSING,
        [WarningCode.STORE_CLOSED],
        "VENTURE",
    )
    assert check.token_masked == mask_token(token)
    assert check.counts == {"products": 12, "categories": None, "orders": None, "customers": None}
    assert check.duration_ms == 1234
    assert check.report == recorded
    assert await database.check_by_id("0" * 32) is None


async def test_history_is_newest_first_and_limited(database: Database) -> None:
    ids = []
    for minute in range(25):
        at = START + timedelta(minutes=minute)
        place = Destination(
            team="T1", channel="C1", thread_ts=None, requester="U_A" if minute % 2 else "U_B"
        )
        ids.append(await database.record_check(report(at=at), place.started_by(EntryPoint.COMMAND)))
    await database.record_check(report(store_id=999), PLACE.started_by(EntryPoint.CLI))
    await database.record_check(report(store_id=None), PLACE.started_by(EntryPoint.CLI))

    for_store = await database.checks_for_store(12345678)
    assert [check.id for check in for_store] == ids[::-1][:20]
    assert [check.id for check in await database.checks_for_store(12345678, limit=3)] == ids[::-1][
        :3
    ]
    by_a = await database.checks_by_requester("U_A")
    assert [check.id for check in by_a] == ids[1::2][::-1][:10]
    assert [check.store_id for check in await database.checks_for_store(999)] == [999]


async def test_team_stats_count_the_window(database: Database) -> None:
    since = START
    verdicts = [Diagnosis.OK] * 3 + [Diagnosis.PLAN_FREE] * 2 + [Diagnosis.TOKEN_INVALID] * 2
    verdicts += [Diagnosis.SCOPE_MISSING]
    for offset, diagnosis in enumerate(verdicts):
        at = since + timedelta(minutes=offset)
        await database.record_check(report(diagnosis, at=at), PLACE.started_by(EntryPoint.COMMAND))
    before = since - timedelta(seconds=1)
    await database.record_check(
        report(Diagnosis.STORE_SUSPENDED, at=before), PLACE.started_by(EntryPoint.CLI)
    )

    stats = await database.team_stats(since)

    assert (stats.checks, stats.connected, stats.since) == (8, 3, since)
    assert stats.top_diagnoses == [
        (Diagnosis.PLAN_FREE, 2),
        (Diagnosis.TOKEN_INVALID, 2),
        (Diagnosis.SCOPE_MISSING, 1),
    ]
    assert stats.pass_rate == pytest.approx(3 / 8)
    empty = await database.team_stats(START + timedelta(days=1))
    assert (empty.checks, empty.pass_rate, empty.top_diagnoses) == (0, None, [])


async def test_many_concurrent_recordings_succeed(database: Database) -> None:
    ids = await asyncio.gather(
        *(
            database.record_check(report(store_id=store_id), PLACE.started_by(EntryPoint.MENTION))
            for store_id in range(1, 201)
        )
    )
    assert len(set(ids)) == 200
    stats = await database.team_stats(START - timedelta(seconds=1))
    assert stats.checks == 200


# Escalations.


async def test_an_escalation_goes_from_open_to_taken_to_resolved(
    database: Database, clock: FakeClock
) -> None:
    check_id = await database.record_check(
        report(Diagnosis.PLAN_FREE), PLACE.started_by(EntryPoint.COMMAND)
    )
    asker = Destination(team="T0001", channel="C0002", thread_ts=None, requester="U0002")

    escalation = await database.create_escalation(
        check_id, asker, goal="Move to Shopify", urgency=Urgency.BLOCKING, note="Launch Friday"
    )

    assert (escalation.check_id, escalation.destination, escalation.created_at) == (
        check_id,
        asker,
        START,
    )
    assert (escalation.store_id, escalation.diagnosis) == (12345678, Diagnosis.PLAN_FREE)
    assert (escalation.goal, escalation.urgency, escalation.note) == (
        "Move to Shopify",
        Urgency.BLOCKING,
        "Launch Friday",
    )
    assert (escalation.state, escalation.taken_by, escalation.version) == (
        EscalationState.OPEN,
        None,
        1,
    )
    assert await database.escalation(escalation.id) == escalation

    await database.set_triage_message(escalation.id, "C_SUPPORT", "1700000001.000200")
    clock.advance(60)
    taken, changed = await database.take(escalation.id, "U_AGENT1")
    assert changed
    assert (taken.state, taken.taken_by, taken.taken_at) == (
        EscalationState.TAKEN,
        "U_AGENT1",
        START + timedelta(seconds=60),
    )
    assert (taken.triage_channel, taken.triage_ts) == ("C_SUPPORT", "1700000001.000200")

    again, changed = await database.take(escalation.id, "U_AGENT2")
    assert not changed
    assert again == taken

    clock.advance(60)
    resolved, changed = await database.resolve(escalation.id, "U_AGENT2")
    assert changed
    assert (resolved.state, resolved.taken_by, resolved.resolved_by) == (
        EscalationState.RESOLVED,
        "U_AGENT1",
        "U_AGENT2",
    )
    assert resolved.resolved_at == START + timedelta(seconds=120)
    assert resolved.version > taken.version

    twice, changed = await database.resolve(escalation.id, "U_AGENT1")
    assert not changed
    assert twice == resolved
    assert (await database.take(escalation.id, "U_AGENT3")) == (resolved, False)


async def test_an_open_escalation_can_be_resolved_directly(database: Database) -> None:
    check_id = await database.record_check(report(), PLACE.started_by(EntryPoint.COMMAND))
    escalation = await database.create_escalation(
        check_id, PLACE, goal="g", urgency=Urgency.LOW, note=""
    )
    resolved, changed = await database.resolve(escalation.id, "U_AGENT")
    assert changed
    assert (resolved.state, resolved.taken_by, resolved.resolved_by) == (
        EscalationState.RESOLVED,
        None,
        "U_AGENT",
    )


async def test_escalation_lists(database: Database, clock: FakeClock) -> None:
    check_id = await database.record_check(report(), PLACE.started_by(EntryPoint.COMMAND))
    other_check = await database.record_check(
        report(store_id=777), PLACE.started_by(EntryPoint.COMMAND)
    )
    made = []
    for check in (check_id, other_check, check_id, check_id):
        made.append(
            await database.create_escalation(
                check, PLACE, goal="g", urgency=Urgency.NORMAL, note=""
            )
        )
        clock.advance(1)
    await database.take(made[1].id, "U_AGENT")
    await database.resolve(made[2].id, "U_AGENT")

    assert [e.id for e in await database.open_escalations()] == [made[0].id, made[1].id, made[3].id]
    for_store = await database.escalations_for_store(12345678)
    assert [e.id for e in for_store] == [made[3].id, made[2].id, made[0].id]
    assert [e.id for e in await database.escalations_for_store(12345678, limit=1)] == [made[3].id]


async def test_unknown_ids_are_refused(database: Database) -> None:
    with pytest.raises(LookupError):
        await database.create_escalation("0" * 32, PLACE, goal="g", urgency=Urgency.LOW, note="")
    with pytest.raises(LookupError):
        await database.take("0" * 32, "U_AGENT")
    with pytest.raises(LookupError):
        await database.resolve("0" * 32, "U_AGENT")
    assert await database.escalation("0" * 32) is None


async def test_of_agents_taking_at_once_through_two_processes_exactly_one_wins(
    database: Database, database_url: str
) -> None:
    check_id = await database.record_check(report(), PLACE.started_by(EntryPoint.COMMAND))
    escalation = await database.create_escalation(
        check_id, PLACE, goal="g", urgency=Urgency.NORMAL, note=""
    )
    other = Database.from_url(database_url)
    try:
        results = await asyncio.gather(
            *(
                (database if agent % 2 else other).take(escalation.id, f"U_AGENT{agent}")
                for agent in range(10)
            )
        )
    finally:
        await other.close()

    winners = [taken for taken, changed in results if changed]
    assert len(winners) == 1
    owner = winners[0].taken_by
    assert {taken.taken_by for taken, _ in results} == {owner}
    assert {taken.version for taken, _ in results} == {2}
    final = await database.escalation(escalation.id)
    assert final is not None
    assert (final.state, final.taken_by) == (EscalationState.TAKEN, owner)


# The vault.


async def test_the_vault_gives_back_both_kinds_of_paste(database: Database) -> None:
    vault = database.vault(SecretStr(new_key()), TTL)
    assert vault.enabled
    url = CollectionPaste(
        CollectionUrl(
            "https://ecwid-api-playground.s3.amazonaws.com/ab12cd.json.postman_collection"
        )
    )
    credentials = CredentialsPaste(StoreCredentials(12345678, EcwidToken(random_token())))
    first = await database.record_check(report(), PLACE.started_by(EntryPoint.MODAL))
    second = await database.record_check(report(), PLACE.started_by(EntryPoint.MODAL))

    await vault.store(first, url)
    await vault.store(second, credentials)

    assert await vault.load(first) == url
    assert await vault.load(second) == credentials
    assert await vault.load("0" * 32) is None
    await vault.store(first, credentials)
    assert await vault.load(first) == credentials


async def test_stored_pastes_expire(database: Database, clock: FakeClock) -> None:
    vault = database.vault(SecretStr(new_key()), timedelta(hours=1))
    paste = CredentialsPaste(StoreCredentials(42, EcwidToken(random_token())))
    ids = [
        await database.record_check(report(), PLACE.started_by(EntryPoint.MODAL)) for _ in range(3)
    ]
    for check_id in ids:
        await vault.store(check_id, paste)

    clock.advance(3599)
    assert await vault.load(ids[0]) == paste
    clock.advance(1)
    assert await vault.load(ids[0]) is None
    assert len(await table_rows(database, "stored_credentials")) == 2
    assert await vault.purge_expired() == 2
    assert await table_rows(database, "stored_credentials") == []
    assert await vault.load(ids[1]) is None


async def test_a_paste_stored_under_another_key_is_not_read(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    token = random_token()
    check_id = await database.record_check(report(), PLACE.started_by(EntryPoint.MODAL))
    await database.vault(SecretStr(new_key()), TTL).store(
        check_id, CredentialsPaste(StoreCredentials(42, EcwidToken(token)))
    )

    with caplog.at_level(logging.WARNING):
        assert await database.vault(SecretStr(new_key()), TTL).load(check_id) is None

    assert "CREDENTIALS_KEY" in caplog.text
    assert token not in caplog.text


async def test_without_a_key_the_vault_keeps_nothing(database: Database) -> None:
    check_id = await database.record_check(report(), PLACE.started_by(EntryPoint.MODAL))
    for key in (None, SecretStr("")):
        vault = database.vault(key, TTL)
        assert not vault.enabled
        await vault.store(check_id, CredentialsPaste(StoreCredentials(42, EcwidToken("x" * 32))))
        assert await vault.load(check_id) is None
    assert await table_rows(database, "stored_credentials") == []


def test_only_fernet_keys_are_accepted() -> None:
    validate_key(new_key())
    for wrong in ("", "not-a-key", "A" * 43, "hunter2" * 10):
        with pytest.raises(ValueError, match="CREDENTIALS_KEY must be a Fernet key") as raised:
            validate_key(wrong)
        assert wrong == "" or wrong not in str(raised.value)


async def test_a_wrong_key_is_refused_when_the_vault_is_made(database: Database) -> None:
    with pytest.raises(ValueError, match="Fernet"):
        database.vault(SecretStr("not-a-key"), TTL)


# The canary.


async def test_no_table_holds_a_token_or_a_collection_url(
    database: Database, clock: FakeClock
) -> None:
    token = "secret_CANARY" + random_token().removeprefix("secret_")[:24]
    secret_path = "CANARY" + secrets.token_hex(12)
    url = f"https://ecwid-api-playground.s3.amazonaws.com/{secret_path}.json.postman_collection"
    pastes = [
        CollectionPaste(CollectionUrl(url)),
        CredentialsPaste(StoreCredentials(12345678, EcwidToken(token))),
    ]
    vault = database.vault(SecretStr(new_key()), TTL)
    seen = DatabaseSeenKeys(database, clock=clock)
    guard = DatabaseTokenGuard(database, 60, 300, clock=clock)
    for paste in pastes:
        # A report as the engine makes it, and one where a secret slipped into the free text.
        for leaky in (False, True):
            text = f"see {url} and {token}" if leaky else "One sentence."
            recorded = report(
                Diagnosis.TOKEN_INVALID,
                token=token if leaky else mask_token(token),
                store_name=text,
                summary=text,
                warning_texts=[text],
                tips=[text],
            )
            check_id = await database.record_check(recorded, PLACE.started_by(EntryPoint.MODAL))
            await vault.store(check_id, paste)
            assert await vault.load(check_id) == paste
            escalation = await database.create_escalation(
                check_id, PLACE, goal=f"Migrate {url}", urgency=Urgency.NORMAL, note=text
            )
            await database.take(escalation.id, "U_AGENT")
        await seen.first_time(f"submit:{token}:{url}")
    fingerprint = EcwidToken(token).fingerprint
    claim = await guard.claim_flight(fingerprint, 30)
    assert claim.flight is not None
    admission = await guard.reserve(5, 30)
    assert admission.reservation is not None
    await guard.settle(admission.reservation, 3)
    leaky_verdict = report(Diagnosis.TOKEN_INVALID, summary=f"see {url} and {token}")
    await guard.finish_flight(
        fingerprint, claim.flight, verdict=leaky_verdict.model_dump_json(), cool_down=True
    )

    dump = []
    for table in [*Base.metadata.sorted_tables, sa.table("alembic_version")]:
        for row in await table_rows(database, table.name):
            dump.extend(str(value) for value in row.values())
    everything = "\n".join(dump)

    assert "12345678" in everything  # the dump did read the rows
    for secret in (token, token.removeprefix("secret_"), url, secret_path):
        assert secret not in everything
    assert "CANARY" not in everything
