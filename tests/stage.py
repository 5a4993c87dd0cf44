"""The stage (`bot.sandbox.stage.running_stage`) as the tests start it: the same product, with
its SQLite database copied from this worker's migrated template instead of migrated anew (a
stage's start is otherwise half Alembic). `migrated_stage(...)` takes `running_stage`'s
arguments but `data_dir`, which it chooses."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from bot.db.opening import SQLITE_FILE_NAME
from bot.sandbox.ecwid.stores import SampleStore
from bot.sandbox.stage import Stage, running_stage
from tests.db_fixtures import sqlite_template


@asynccontextmanager
async def migrated_stage(
    stores: Sequence[SampleStore] | None = None, *, latency_ms: float = 0, **settings: object
) -> AsyncIterator[Stage]:
    with tempfile.TemporaryDirectory(prefix="ecwid-connect-stage-") as data_dir:
        shutil.copyfile(await sqlite_template(), Path(data_dir) / SQLITE_FILE_NAME)
        async with running_stage(
            stores, latency_ms=latency_ms, data_dir=data_dir, **settings
        ) as stage:
            yield stage
