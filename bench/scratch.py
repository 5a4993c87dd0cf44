"""A throw-away PostgreSQL database for a benchmark, on the server that BENCH_DATABASE_URL (or
TEST_DATABASE_URL, as the tests use) names."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.settings import normalise_url

SKIPPED = "  PostgreSQL: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)"


def postgres_server() -> URL | None:
    """The server to make scratch databases on; None when none is set (print `SKIPPED`)."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    return make_url(normalise_url(url)) if url else None


@asynccontextmanager
async def scratch_database(server: URL, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on `server`, named after `prefix`: its URL, and dropped on the way
    out (connections left open cut)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
