"""De-duplication that outlives the database's bad moments (`FallbackSeenKeys`), on SQLite and
PostgreSQL: exactly one caller is told a key is new, whatever the timing and whichever replica
it is in."""

from __future__ import annotations

import asyncio

from bot.db.database import Database
from bot.db.health import DatabaseHealth
from bot.db.shared import DatabaseSeenKeys
from bot.slack.dedup import FallbackSeenKeys
from tests.db_fixtures import (  # noqa: F401
    clock_fixture,
    database_fixture,
    database_url_fixture,
)


class Outage:
    """`DatabaseSeenKeys` that fails while `down` is set, as an unreachable database would."""

    def __init__(self, primary: DatabaseSeenKeys) -> None:
        self.primary = primary
        self.down = False

    async def first_time(self, key: str) -> bool:
        if self.down:
            raise ConnectionError("database unreachable")
        return await self.primary.first_time(key)


async def test_of_concurrent_callers_exactly_one_is_told_a_key_is_new(database: Database) -> None:
    seen = FallbackSeenKeys(DatabaseSeenKeys(database), DatabaseHealth())

    verdicts = await asyncio.gather(*(seen.first_time("event:Ev1") for _ in range(5)))

    assert sorted(verdicts) == [False, False, False, False, True]


async def test_a_key_first_seen_during_an_outage_is_not_new_once_the_database_is_back(
    database: Database,
) -> None:
    outage = Outage(DatabaseSeenKeys(database))
    seen = FallbackSeenKeys(outage, DatabaseHealth())
    outage.down = True
    assert await seen.first_time("event:Ev2") is True
    outage.down = False

    assert await seen.first_time("event:Ev2") is False
    assert await seen.first_time("event:Ev3") is True


async def test_of_replicas_on_one_database_exactly_one_is_told_a_key_is_new(
    database: Database, database_url: str
) -> None:
    other = Database.from_url(database_url)
    try:
        replicas = [
            FallbackSeenKeys(DatabaseSeenKeys(each), DatabaseHealth())
            for each in (database, other, database, other)
        ]
        verdicts = await asyncio.gather(*(seen.first_time("leak:C1:1.0") for seen in replicas))
    finally:
        await other.close()

    assert sorted(verdicts) == [False, False, False, True]
