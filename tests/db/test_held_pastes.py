"""Secrets the leak guard spotted, held in the vault for their author's private check: encrypted,
for minutes, taken once and only by their author (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from pydantic import SecretStr

from bot.db.database import Database
from bot.db.models import HeldPasteRow
from bot.db.vault import new_key
from bot.engine.intake import CollectionPaste, CredentialsPaste
from bot.engine.redaction import CollectionUrl, EcwidToken, StoreCredentials
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

HOLD = timedelta(minutes=10)
TOKEN = "secret_" + "HeLd0123" * 4
URL = "https://ecwid-api-playground.s3.amazonaws.com/1003_HELDpath.json.postman_collection"


async def held_rows(database: Database) -> list[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(sa.select(HeldPasteRow))
        return [" ".join(str(value) for value in row) for row in rows]


async def test_a_held_paste_is_given_back_once_to_its_author(database: Database) -> None:
    keeper = database.vault(SecretStr(new_key()), timedelta(hours=72))
    paste = CredentialsPaste(StoreCredentials(1003, EcwidToken(TOKEN)))

    hold_id = await keeper.hold(paste, owner="U0OWNER", ttl=HOLD)
    assert hold_id is not None
    rows = await held_rows(database)

    assert await keeper.take(hold_id, owner="U0SOMEONE") is None
    assert await keeper.take(hold_id, owner="U0OWNER") == paste
    assert await keeper.take(hold_id, owner="U0OWNER") is None
    assert TOKEN not in "\n".join(rows), "only the ciphertext is stored"
    assert await held_rows(database) == []


async def test_a_held_paste_expires_within_minutes(database: Database, clock: FakeClock) -> None:
    keeper = database.vault(SecretStr(new_key()), timedelta(hours=72))
    paste = CollectionPaste(CollectionUrl(URL))
    late = await keeper.hold(paste, owner="U0OWNER", ttl=HOLD)
    purged = await keeper.hold(paste, owner="U0OWNER", ttl=HOLD)
    assert late is not None
    assert purged is not None

    clock.advance(HOLD.total_seconds())
    assert await keeper.take(late, owner="U0OWNER") is None
    assert await keeper.purge_expired() == 1
    assert await held_rows(database) == []


async def test_without_a_key_nothing_is_held(database: Database) -> None:
    keeper = database.vault(None, timedelta(hours=72))

    hold_id = await keeper.hold(CollectionPaste(CollectionUrl(URL)), owner="U0OWNER", ttl=HOLD)

    assert hold_id is None
    assert await held_rows(database) == []


async def test_forgetting_a_person_erases_what_is_held_for_them(database: Database) -> None:
    keeper = database.vault(SecretStr(new_key()), timedelta(hours=72))
    paste = CollectionPaste(CollectionUrl(URL))
    await keeper.hold(paste, owner="U0OWNER", ttl=HOLD)
    kept = await keeper.hold(paste, owner="U0SOMEONE", ttl=HOLD)

    erased = await database.forget_user("U0OWNER")

    assert erased.credentials == 1
    assert len(await held_rows(database)) == 1
    assert kept is not None
    assert await keeper.take(kept, owner="U0SOMEONE") == paste
