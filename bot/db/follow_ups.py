"""Follow-ups: after a check the store owner can fix without a new URL, the bot checks the same
paste again on its own until it works or the window (FOLLOW_UP_FOR_H) ends.

A follow-up is a row of `follow_ups` (who asked, the thread, the store, the paste encrypted) and
one item of timed work (`bot.db.timed`, kind `follow_up`) that comes due every
FOLLOW_UP_EVERY_S. Both are written in one transaction, and ended together: the paste is deleted
whenever a follow-up leaves `active`. Starting one in a thread supersedes the thread's earlier
ones: the newest paste is the one that matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.database import Database
from bot.db.destination_columns import destination_columns, destination_of
from bot.db.models import FollowUpRow
from bot.db.timed import TimedWork
from bot.db.vault import CredentialVault
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis
from bot.engine.intake import Paste
from bot.engine.report import CheckReport

FOLLOW_UP_KIND = "follow_up"
# How much later than its schedule each round may come, at most: replicas' rounds spread out.
SPREAD_SHARE = 0.1
SPREAD_MAX_S = 60.0
# The paste must still be readable at the window's end, however long CREDENTIALS_TTL_H is.
SEAL_MARGIN = timedelta(hours=1)


class FollowUpState(StrEnum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    EXPIRED = "expired"
    CHANGED = "changed"
    STOPPED = "stopped"
    SUPERSEDED = "superseded"
    FORGOTTEN = "forgotten"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A follow-up as read back (never with its paste: `FollowUps.paste` unseals it)."""

    id: str
    created_at: datetime
    ends_at: datetime
    state: FollowUpState
    destination: Destination
    check_id: str
    store_id: int | None
    token_masked: str | None
    diagnosis: Diagnosis
    last_diagnosis: Diagnosis
    rechecks: int
    stopped_by: str | None
    finished_at: datetime | None


class FollowUps:
    """The follow-ups in `database`; pastes sealed by `vault`, rounds run as `timed` work."""

    def __init__(self, database: Database, vault: CredentialVault, timed: TimedWork) -> None:
        self._database = database
        self._vault = vault
        self._timed = timed

    @property
    def available(self) -> bool:
        """Whether follow-ups can be offered: only with CREDENTIALS_KEY, to keep the paste."""
        return self._vault.enabled

    async def start(
        self,
        report: CheckReport,
        destination: Destination,
        paste: Paste,
        *,
        check_id: str,
        every_s: float,
        for_h: float,
    ) -> FollowUp:
        """Start checking `paste` again every `every_s` for `for_h` hours after `report`;
        earlier follow-ups in the same thread end (superseded)."""
        now = self._database.clock()
        sealed = self._vault.seal(paste)
        if sealed is None:
            raise RuntimeError("follow-ups need CREDENTIALS_KEY")
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "created_at": now,
            "ends_at": now + timedelta(hours=for_h),
            "state": FollowUpState.ACTIVE.value,
            **destination_columns(destination),
            "entry_point": destination.entry.value,
            "check_id": check_id,
            "store_id": report.store_id,
            "token_masked": report.token,
            "diagnosis": report.diagnosis.value,
            "last_diagnosis": report.diagnosis.value,
            "rechecks": 0,
            "sealed_paste": sealed,
            "stopped_by": None,
            "finished_at": None,
        }
        async with self._database.engine.begin() as connection:
            if destination.thread_ts is not None:
                earlier = sa.select(FollowUpRow.id).where(
                    FollowUpRow.channel_id == destination.channel,
                    FollowUpRow.thread_ts == destination.thread_ts,
                    FollowUpRow.state == FollowUpState.ACTIVE.value,
                )
                for follow_up_id in list(await connection.scalars(earlier)):
                    await self._end(connection, follow_up_id, FollowUpState.SUPERSEDED, None, None)
            await connection.execute(sa.insert(FollowUpRow).values(row))
            await self._timed.schedule(
                FOLLOW_UP_KIND,
                now + timedelta(seconds=every_s),
                {"follow_up": row["id"]},
                subject=row["id"],
                key=f"follow_up:{row['id']}",
                spread_s=spread_s(every_s),
                connection=connection,
            )
        return _follow_up(row)

    async def get(self, follow_up_id: str) -> FollowUp | None:
        async with self._database.reader.connect() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(FollowUpRow).where(FollowUpRow.id == follow_up_id)
                    )
                )
                .mappings()
                .one_or_none()
            )
        return _follow_up(row) if row is not None else None

    async def paste(self, follow_up: FollowUp) -> Paste | None:
        """The paste to check again; None when it cannot be read (another CREDENTIALS_KEY)."""
        async with self._database.reader.connect() as connection:
            sealed = await connection.scalar(
                sa.select(FollowUpRow.sealed_paste).where(FollowUpRow.id == follow_up.id)
            )
        if sealed is None:
            return None
        return self._vault.unseal(sealed, follow_up.ends_at - follow_up.created_at + SEAL_MARGIN)

    async def rechecked(self, follow_up_id: str, diagnosis: Diagnosis) -> None:
        """One more re-check, which found `diagnosis`."""
        async with self._database.engine.begin() as connection:
            await connection.execute(
                sa.update(FollowUpRow)
                .where(FollowUpRow.id == follow_up_id)
                .values(rechecks=FollowUpRow.rechecks + 1, last_diagnosis=diagnosis.value)
            )

    async def end(
        self,
        follow_up_id: str,
        state: FollowUpState,
        *,
        by: str | None = None,
        item_id: str | None = None,
    ) -> FollowUp | None:
        """End an active follow-up as `state` (its paste deleted, its rounds cancelled but
        `item_id`, the round asking); the follow-up as it ended, or None when it was not active
        any more (someone else ended it: whoever did says so, once)."""
        async with self._database.engine.begin() as connection:
            if not await self._end(connection, follow_up_id, state, by, item_id):
                return None
        return await self.get(follow_up_id)

    async def active(
        self,
        *,
        requesters: Collection[str] | None = None,
        store_id: int | None = None,
        limit: int = 50,
    ) -> list[FollowUp]:
        """Active follow-ups, soonest ending first: of `requesters` and of `store_id` when
        given (none given: all of them, for the support team)."""
        query = sa.select(FollowUpRow).where(FollowUpRow.state == FollowUpState.ACTIVE.value)
        if requesters is not None:
            query = query.where(FollowUpRow.requester_id.in_(sorted(requesters)))
        if store_id is not None:
            query = query.where(FollowUpRow.store_id == store_id)
        async with self._database.reader.connect() as connection:
            rows = (
                await connection.execute(query.order_by(FollowUpRow.ends_at).limit(limit))
            ).mappings()
            return [_follow_up(row) for row in rows]

    async def active_in_thread(self, channel: str, thread_ts: str | None) -> FollowUp | None:
        """The thread's active follow-up (one at most: a newer one supersedes the others);
        None outside a thread, where none supersedes another."""
        if thread_ts is None:
            return None
        query = sa.select(FollowUpRow).where(
            FollowUpRow.channel_id == channel,
            FollowUpRow.thread_ts == thread_ts,
            FollowUpRow.state == FollowUpState.ACTIVE.value,
        )
        async with self._database.reader.connect() as connection:
            row = (await connection.execute(query.limit(1))).mappings().one_or_none()
        return _follow_up(row) if row is not None else None

    async def for_store(self, store_id: int, limit: int = 20) -> list[FollowUp]:
        """The store's follow-ups, newest first, ended ones included."""
        query = (
            sa.select(FollowUpRow)
            .where(FollowUpRow.store_id == store_id)
            .order_by(FollowUpRow.created_at.desc())
            .limit(limit)
        )
        async with self._database.reader.connect() as connection:
            return [_follow_up(row) for row in (await connection.execute(query)).mappings()]

    async def _end(
        self,
        connection: AsyncConnection,
        follow_up_id: str,
        state: FollowUpState,
        by: str | None,
        item_id: str | None,
    ) -> bool:
        result = await connection.execute(
            sa.update(FollowUpRow)
            .where(FollowUpRow.id == follow_up_id, FollowUpRow.state == FollowUpState.ACTIVE.value)
            .values(
                state=state.value,
                sealed_paste=None,
                stopped_by=by,
                finished_at=self._database.clock(),
            )
        )
        if result.rowcount != 1:
            return False
        await self._timed.cancel(
            subject=follow_up_id, kinds={FOLLOW_UP_KIND}, but=item_id, connection=connection
        )
        return True


def spread_s(every_s: float) -> float:
    """How far a round may come after its schedule: a tenth of the interval, a minute at most."""
    return min(every_s * SPREAD_SHARE, SPREAD_MAX_S)


def _follow_up(row: Any) -> FollowUp:
    return FollowUp(
        id=row["id"],
        created_at=row["created_at"],
        ends_at=row["ends_at"],
        state=FollowUpState(row["state"]),
        destination=destination_of(row, row["entry_point"]),
        check_id=row["check_id"],
        store_id=row["store_id"],
        token_masked=row["token_masked"],
        diagnosis=Diagnosis(row["diagnosis"]),
        last_diagnosis=Diagnosis(row["last_diagnosis"]),
        rechecks=row["rechecks"],
        stopped_by=row["stopped_by"],
        finished_at=row["finished_at"],
    )
