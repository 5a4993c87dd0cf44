"""Opening the database: the URL that DATABASE_URL names (or the SQLite file under DATA_DIR), an
engine set up for it (on SQLite: WAL, a busy timeout, and transactions that write taking the
write lock as they begin; on PostgreSQL: pooled connections checked before use), the read-only
view of that engine, and bringing the schema up to date with Alembic.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.settings import normalise_url

if TYPE_CHECKING:
    from bot.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_FILE_NAME = "ecwid-connect.sqlite3"
# How long a SQLite connection waits for another writer (another process, or another pooled
# connection of this one) before giving up with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30
# Marks connections that only read: on SQLite they start a plain (deferred) transaction instead
# of taking the write lock up front.
_READ_ONLY = "ecwid_connect_read_only"
# Alembic keeps the running migration in module globals, so two upgrades may not interleave in
# one process: one lock per event loop (an asyncio.Lock belongs to one loop).
_migration_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def url_from_settings(settings: Settings) -> str:
    """DATABASE_URL, normalised; when unset, the SQLite file under DATA_DIR (created if needed)."""
    if settings.database_url is not None and settings.database_url.get_secret_value().strip():
        return normalise_url(settings.database_url.get_secret_value())
    data_dir = Path(settings.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = sa.URL.create("sqlite+aiosqlite", database=str(data_dir / SQLITE_FILE_NAME))
    return url.render_as_string()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url` (already normalised), set up for several concurrent writers."""
    if make_url(url).get_backend_name() != "sqlite":
        # Connections idle in the pool may have been closed by the server or a proxy.
        return create_async_engine(url, pool_pre_ping=True)
    # Every connection goes back to the pool with its transaction ended (committed or rolled
    # back by SQLAlchemy's `Connection`), and the driver is in autocommit mode: the pool's own
    # ROLLBACK on return does nothing but cost a trip to aiosqlite's thread (about 1 ms of CPU
    # on each of the three journal writes of a check).
    engine = create_async_engine(url, pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see `_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL itself may have to wait for another process.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        # WAL lets readers go on while one connection writes; NORMAL is durable enough with WAL.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # A transaction that writes takes the write lock at BEGIN, where busy_timeout applies.
        # A deferred one would upgrade its lock later and, if another connection wrote in the
        # meantime, fail at once with "database is locked" whatever the timeout.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool as `engine`, for transactions that only read."""
    return engine.execution_options(**{_READ_ONLY: True})


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Bring the schema to the latest version (Alembic `upgrade head`).

    Safe to run from several processes at once: SQLite serialises the whole upgrade on its
    write lock, PostgreSQL on an advisory lock (taken in `migrations/env.py`); whoever comes
    second finds the schema up to date. A schema already at head (the usual start) costs one
    query: Alembic, which executes every revision script even when there is nothing to do,
    runs only for a database behind.
    """
    async with engine.connect() as connection:
        if await connection.run_sync(_at_head):
            return
    lock = _migration_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _alembic_config() -> Config:
    config = Config()
    # The Config is an ini parser: a `%` in the path would read as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


@functools.cache
def _head_revision() -> str | None:
    """The newest revision, read from the scripts once a process."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _at_head(connection: sa.Connection) -> bool:
    return MigrationContext.configure(connection).get_current_revision() == _head_revision()


def _upgrade(connection: sa.Connection) -> None:
    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
