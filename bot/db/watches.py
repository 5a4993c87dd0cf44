"""Watches: a connected store checked again every WATCH_EVERY_S until migration day, then one
reminder to revoke access, REVOKE_REMINDER_AFTER_H after that day began in the asker's time zone.

A watch is a row of `watches` (the paste encrypted) and two items of timed work: its rounds
(kind `watch`) and its reminder (kind `revoke_reminder`, due at `remind_at`), all written in one
transaction. The reminder ends the watch: the paste is deleted and the rounds cancelled.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.db.database import Database
from bot.db.destination_columns import destination_columns, destination_of
from bot.db.follow_ups import SEAL_MARGIN, spread_s
from bot.db.models import WatchRow
from bot.db.timed import TimedWork
from bot.db.vault import CredentialVault
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis
from bot.engine.intake import Paste

WATCH_KIND = "watch"
REMINDER_KIND = "revoke_reminder"


class WatchState(StrEnum):
    ACTIVE = "active"
    REMINDED = "reminded"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Watch:
    """A watch as read back (its paste only through `Watches.paste`)."""

    id: str
    created_at: datetime
    state: WatchState
    destination: Destination
    watcher: str
    check_id: str
    store_id: int | None
    migration_date: date
    time_zone: str
    remind_at: datetime
    last_ok: bool
    last_diagnosis: Diagnosis
    checks: int
    changes: int


def reminder_time(migration_date: date, time_zone: str, after_h: float) -> datetime:
    """`after_h` hours after `migration_date` begins (00:00) in `time_zone` (an IANA name)."""
    begins = datetime.combine(migration_date, time(0), tzinfo=ZoneInfo(time_zone))
    return begins + timedelta(hours=after_h)


class Watches:
    """The watches in `database`; pastes sealed by `vault`, rounds and reminders as `timed`."""

    def __init__(self, database: Database, vault: CredentialVault, timed: TimedWork) -> None:
        self._database = database
        self._vault = vault
        self._timed = timed

    async def start(
        self,
        destination: Destination,
        paste: Paste,
        *,
        watcher: str,
        check_id: str,
        store_id: int | None,
        migration_date: date,
        time_zone: str,
        every_s: float,
        remind_after_h: float,
    ) -> Watch:
        """Watch the store of `check_id` (connected) until its reminder."""
        now = self._database.clock()
        sealed = self._vault.seal(paste)
        if sealed is None:
            raise RuntimeError("watches need CREDENTIALS_KEY")
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "created_at": now,
            "state": WatchState.ACTIVE.value,
            **destination_columns(destination),
            "watcher_id": watcher,
            "check_id": check_id,
            "store_id": store_id,
            "migration_date": migration_date,
            "time_zone": time_zone,
            "remind_at": reminder_time(migration_date, time_zone, remind_after_h),
            "last_ok": True,
            "last_diagnosis": Diagnosis.OK.value,
            "checks": 0,
            "changes": 0,
            "sealed_paste": sealed,
            "finished_at": None,
        }
        async with self._database.engine.begin() as connection:
            await connection.execute(sa.insert(WatchRow).values(row))
            subject = {"subject": row["id"], "connection": connection}
            await self._timed.schedule(
                WATCH_KIND,
                now + timedelta(seconds=every_s),
                {"watch": row["id"]},
                key=f"watch:{row['id']}",
                spread_s=spread_s(every_s),
                **subject,
            )
            await self._timed.schedule(
                REMINDER_KIND,
                row["remind_at"],
                {"watch": row["id"]},
                key=f"watch:{row['id']}:reminder",
                **subject,
            )
        return _watch(row)

    async def get(self, watch_id: str) -> Watch | None:
        async with self._database.reader.connect() as connection:
            row = (
                (await connection.execute(sa.select(WatchRow).where(WatchRow.id == watch_id)))
                .mappings()
                .one_or_none()
            )
        return _watch(row) if row is not None else None

    async def paste(self, watch: Watch) -> Paste | None:
        """The paste to check again; None when it cannot be read any more."""
        async with self._database.reader.connect() as connection:
            sealed = await connection.scalar(
                sa.select(WatchRow.sealed_paste).where(WatchRow.id == watch.id)
            )
        if sealed is None:
            return None
        return self._vault.unseal(sealed, watch.remind_at - watch.created_at + SEAL_MARGIN)

    async def checked(self, watch_id: str, diagnosis: Diagnosis) -> bool:
        """A round found `diagnosis`; True when that is a change (working ↔ not), to be told."""
        ok = diagnosis is Diagnosis.OK
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                sa.update(WatchRow)
                .where(WatchRow.id == watch_id, WatchRow.last_ok != ok)
                .values(
                    last_ok=ok,
                    last_diagnosis=diagnosis.value,
                    changes=WatchRow.changes + 1,
                    checks=WatchRow.checks + 1,
                )
            )
            if result.rowcount == 1:
                return True
            await connection.execute(
                sa.update(WatchRow)
                .where(WatchRow.id == watch_id)
                .values(last_diagnosis=diagnosis.value, checks=WatchRow.checks + 1)
            )
        return False

    async def end(self, watch_id: str, state: WatchState, *, item_id: str | None = None) -> bool:
        """End an active watch: its paste deleted, its other timed work cancelled."""
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                sa.update(WatchRow)
                .where(WatchRow.id == watch_id, WatchRow.state == WatchState.ACTIVE.value)
                .values(state=state.value, sealed_paste=None, finished_at=self._database.clock())
            )
            if result.rowcount != 1:
                return False
            await self._timed.cancel(subject=watch_id, but=item_id, connection=connection)
        return True

    async def active(
        self, *, requesters: Collection[str] | None = None, limit: int = 50
    ) -> list[Watch]:
        """Active watches, soonest reminder first: of `requesters` (or set by them) when given,
        else all of them, for the support team."""
        query = sa.select(WatchRow).where(WatchRow.state == WatchState.ACTIVE.value)
        if requesters is not None:
            people = sorted(requesters)
            query = query.where(WatchRow.requester_id.in_(people) | WatchRow.watcher_id.in_(people))
        async with self._database.reader.connect() as connection:
            found = await connection.execute(query.order_by(WatchRow.remind_at).limit(limit))
            return [_watch(row) for row in found.mappings()]

    async def for_store(self, store_id: int, limit: int = 20) -> list[Watch]:
        """The store's watches, newest first, ended ones included."""
        query = (
            sa.select(WatchRow)
            .where(WatchRow.store_id == store_id)
            .order_by(WatchRow.created_at.desc())
            .limit(limit)
        )
        async with self._database.reader.connect() as connection:
            return [_watch(row) for row in (await connection.execute(query)).mappings()]

    async def active_count(self) -> int:
        """How many watches are running (for the metrics)."""
        async with self._database.reader.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(WatchRow)
                .where(WatchRow.state == WatchState.ACTIVE.value)
            )
        return int(count or 0)


def _watch(row: Any) -> Watch:
    return Watch(
        id=row["id"],
        created_at=row["created_at"],
        state=WatchState(row["state"]),
        destination=destination_of(row),
        watcher=row["watcher_id"],
        check_id=row["check_id"],
        store_id=row["store_id"],
        migration_date=row["migration_date"],
        time_zone=row["time_zone"],
        remind_at=row["remind_at"],
        last_ok=row["last_ok"],
        last_diagnosis=Diagnosis(row["last_diagnosis"]),
        checks=row["checks"],
        changes=row["changes"],
    )
