"""The `database` fixture: a fresh, migrated database per test, on SQLite and on PostgreSQL.

Import the fixtures explicitly in a test module:
`from tests.db_fixtures import clock_fixture, database_fixture, database_url_fixture  # noqa: F401`
(the functions are named apart from the fixtures, so test parameters do not shadow imports).
PostgreSQL runs when TEST_DATABASE_URL is set (`.ci/start-postgres` prints one); each test gets
its own database on that server, dropped afterwards (`fresh_postgres_url()` makes one for tests
that need no migration, such as bot processes that migrate themselves). With REQUIRE_POSTGRES=1 a
missing TEST_DATABASE_URL fails the tests instead of skipping them.

Alembic runs once per test run and backend, not once per test. SQLite: the first test that
wants a migrated database migrates a template file, and every `database` is a copy of it.
PostgreSQL, where making and dropping a database costs about a second each on a busy server:
the run migrates one database and every `database` test gets it emptied (every row but
Alembic's deleted, sequences restarted, connections a failed test left open cut). A test that
asks only for `database_url` gets a new, empty database, for the migration tests themselves.
Under pytest-xdist (`make test`) each worker process has its own template file and its own
migrated database, named after the worker (`_WORKER`): no two workers ever share one.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.db.database import Database, normalise_url
from bot.db.models import Base

START = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)

#: This process's pytest-xdist worker ("gw0", "gw1", …), or "main" without workers.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


class FakeClock:
    """A clock that moves only when told to: `clock()` is now, `clock.advance(s)` moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


def _postgres_url() -> URL:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        return make_url(normalise_url(url))
    message = "PostgreSQL not configured: set TEST_DATABASE_URL (see .ci/start-postgres)"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


async def _administer(base: URL, *statements: str) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await admin.dispose()


# Databases made by `fresh_postgres_url` and not dropped yet: dropped when the tests end.
_undropped: set[str] = set()


async def fresh_postgres_url() -> str:
    """The URL of a new, empty PostgreSQL database, made from TEST_DATABASE_URL's server.

    Skips the test when TEST_DATABASE_URL is unset (fails it with REQUIRE_POSTGRES=1). The
    database is dropped at the end of the test session at the latest.
    """
    base = _postgres_url()
    name = f"ecwid_test_{uuid.uuid4().hex[:16]}"
    await _administer(base, f'CREATE DATABASE "{name}"')
    _undropped.add(name)
    return base.set(database=name).render_as_string(hide_password=False)


async def _drop(base: URL, *names: str) -> None:
    # FORCE: a test that failed half-way, or a bot process, may still be connected.
    await _administer(base, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names))
    _undropped.difference_update(names)


@atexit.register
def _drop_leftovers() -> None:
    if _undropped:
        asyncio.run(_drop(_postgres_url(), *_undropped))


# What this run migrated, on first use: {"sqlite": a template file, "postgresql": a database}.
_migrated: dict[str, str] = {}


async def _migrate(url: str) -> None:
    template = Database.from_url(url)
    try:
        await template.migrate()
    finally:
        await template.close()


async def sqlite_template() -> Path:
    """This worker's migrated SQLite file: copy it, never open it (migrated on first use)."""
    if "sqlite" not in _migrated:
        directory = tempfile.mkdtemp(prefix=f"ecwid-connect-template-{_WORKER}-")
        atexit.register(shutil.rmtree, directory, True)
        path = Path(directory) / "migrated.sqlite3"
        await _migrate(f"sqlite+aiosqlite:///{path}")
        _migrated["sqlite"] = str(path)
    return Path(_migrated["sqlite"])


async def emptied_postgres_url() -> str:
    """The URL of this run's migrated PostgreSQL database, emptied: no row in any table but
    Alembic's, sequences restarted, nobody else connected. Made (and migrated) on first use,
    dropped when the tests end."""
    base = _postgres_url()
    if "postgresql" not in _migrated:
        name = f"ecwid_test_{_WORKER}_{uuid.uuid4().hex[:16]}"
        await _administer(base, f'CREATE DATABASE "{name}"')
        _undropped.add(name)
        await _migrate(base.set(database=name).render_as_string(hide_password=False))
        _migrated["postgresql"] = name
    name = _migrated["postgresql"]
    url = base.set(database=name)
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    # Our own sessions: the server's (autovacuum's) are not ours to end.
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND usename = current_user"
                )
            )
            # DELETE, not TRUNCATE: on tables this small it is several times faster (TRUNCATE
            # makes each table a new file).
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
            await connection.execute(
                text(
                    "SELECT setval(oid, 1, false) FROM pg_class"
                    " WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
                )
            )
    finally:
        await engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
async def database_url_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """The URL of a database for this test only: empty, or migrated when the test also asks for
    `database` (which opens it)."""
    migrated = "database" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "ecwid-connect.sqlite3"
        if migrated:
            shutil.copyfile(await sqlite_template(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if migrated:
        yield await emptied_postgres_url()
        return
    url = await fresh_postgres_url()
    yield url
    await _drop(_postgres_url(), str(make_url(url).database))


@pytest.fixture(name="database")
async def database_fixture(database_url: str, clock: FakeClock) -> AsyncIterator[Database]:
    """A migrated `Database` with no rows on `database_url`, whose time is `clock`."""
    opened = Database.from_url(database_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()
