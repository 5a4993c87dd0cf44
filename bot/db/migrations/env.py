"""Alembic's environment: runs the revisions on a connection, from `Database.migrate()` or the CLI.

`Database.migrate()` hands over its own connection in `config.attributes["connection"]`; the
`alembic` command line instead opens the database the bot is configured to use.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from bot.db.models import Base
from bot.db.opening import create_engine, url_from_settings
from bot.settings import load_settings

# Any fixed number: the PostgreSQL advisory lock that lets one process at a time migrate.
MIGRATION_LOCK_ID = 0x6563_7769_64  # "ecwid"

config = context.config


def run_migrations(connection: sa.Connection) -> None:
    """Upgrade on `connection`, holding the migration lock on PostgreSQL until the commit."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # Our SQLite connections emit BEGIN themselves (`bot.db.opening.create_engine`), so
        # DDL there is transactional too: an upgrade that fails half-way leaves nothing behind.
        transactional_ddl=True,
        # SQLite cannot ALTER most things: future revisions rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
        context.run_migrations()


async def _run_from_command_line() -> None:
    engine = create_engine(url_from_settings(load_settings()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            # Alembic leaves the commit to the caller when a transaction had already begun.
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=url_from_settings(load_settings()),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given: sa.Connection | None = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        _run_offline()
    else:
        asyncio.run(_run_from_command_line())
