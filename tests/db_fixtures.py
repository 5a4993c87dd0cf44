"""The `database` fixture: a fresh, migrated database per test, on SQLite and on PostgreSQL.

Import the fixtures explicitly in a test module:
`from tests.db_fixtures import clock_fixture, database_fixture, database_url_fixture  # noqa: F401`
(the functions are named apart from the fixtures, so test parameters do not shadow imports).
PostgreSQL runs when TEST_DATABASE_URL is set (`.ci/start-postgres` prints one); each test gets
its own database on that server, dropped afterwards (`fresh_postgres_url()` makes one for tests
that need no migration, such as bot processes that migrate themselves). With REQUIRE_POSTGRES=1 a
missing TEST_DATABASE_URL fails the tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.history.database import Database, normalise_url

START = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


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


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
async def database_url_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """The URL of an empty database, for this test only."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ecwid-connect.sqlite3'}"
        return
    url = await fresh_postgres_url()
    yield url
    await _drop(_postgres_url(), str(make_url(url).database))


@pytest.fixture(name="database")
async def database_fixture(database_url: str, clock: FakeClock) -> AsyncIterator[Database]:
    """A migrated `Database` on `database_url`, whose time is `clock`."""
    opened = Database.from_url(database_url, clock=clock)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()
