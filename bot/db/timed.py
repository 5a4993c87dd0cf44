"""Timed work: what the bot must do later, as rows with a due time, each run exactly once.

Follow-ups, watches and reminders are items of `timed_work`: a `kind` (which handler runs it),
a due time, a secret-free JSON payload (IDs, never a paste: credentials stay in the vault). A
process claims due items in batches: one UPDATE of the rows picked with `FOR UPDATE SKIP LOCKED`
on PostgreSQL (SQLite serialises writers, its transactions take the write lock at BEGIN), and
conditional on the row still being claimable, so of several replicas exactly one takes each
item. The claim is a lease (`lease_s`, CHECK_LEASE_S) that the runner renews while the handler
works; an item whose owner stopped renewing (killed, machine lost) is claimed again by any
process once its lease has passed, as journaled checks are (`bot.db.journal`).

A handler ends its item (`finish`), or asks for it again later (`Again`: a follow-up's next
round, a watch's next day). Due times can be spread (`spread_s`): a thousand watches set at the
same moment do not all come due in the same second. Finishing, like renewing, is conditional on
the item still being this owner's: an item cancelled meanwhile stays cancelled.

No library was used for this: the established queues are PostgreSQL-only (procrastinate,
pgqueuer) or keep their schedule in one process (APScheduler 3); this one runs on both
databases the bot supports, through the same async engine, with the journal's lease pattern.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.database import Database
from bot.db.models import TimedWorkRow, upsert

logger = logging.getLogger(__name__)

# An item claimed this many times without finishing is given up: it may be what kills processes.
MAX_ATTEMPTS = 5
KEEP_FINISHED = timedelta(days=1)
# After a handler fails, the item is tried again after this, doubling up to the maximum.
RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


class TimedState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STATES = (TimedState.PENDING.value, TimedState.RUNNING.value)


@dataclass(frozen=True, slots=True)
class TimedItem:
    """One item as its handler sees it. `attempts` counts the claims of this run, this one
    included: above 1, an earlier claim may have done part of the work before its process died.
    `runs` counts the runs that finished before (a repeating item's rounds)."""

    id: str
    kind: str
    subject: str | None
    due_at: datetime
    payload: dict[str, Any]
    attempts: int
    runs: int


@dataclass(frozen=True, slots=True)
class Again:
    """A handler's answer: run this item again at `at`, plus up to `spread_s` of jitter, with
    `payload` instead of the current one when given."""

    at: datetime
    payload: dict[str, Any] | None = None
    spread_s: float = 0.0


@dataclass(slots=True)
class TimedWork:
    """The timed work of one process (`owner`) on `database`; `lease_s` is CHECK_LEASE_S."""

    database: Database
    lease_s: float
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    rng: random.Random = field(default_factory=random.Random)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.database.clock

    async def schedule(
        self,
        kind: str,
        at: datetime,
        payload: dict[str, Any],
        *,
        subject: str | None = None,
        key: str | None = None,
        spread_s: float = 0.0,
        connection: AsyncConnection | None = None,
    ) -> str | None:
        """Add an item due at `at` (plus up to `spread_s`); its ID, or None when an item with
        `key` exists already (it is left as it is). With `connection`, inside the caller's
        transaction: the item exists exactly when what it belongs to does."""
        item_id = uuid.uuid4().hex
        row = {
            "id": item_id,
            "kind": kind,
            "key": key,
            "subject": subject,
            "created_at": self.clock(),
            "due_at": self._spread(at, spread_s),
            "state": TimedState.PENDING.value,
            "owner": None,
            "lease_until": None,
            "attempts": 0,
            "runs": 0,
            "payload": payload,
            "last_error": None,
            "finished_at": None,
        }
        if connection is None:
            async with self.database.engine.begin() as own:
                return await self._insert(own, row)
        return await self._insert(connection, row)

    async def _insert(self, connection: AsyncConnection, row: dict[str, Any]) -> str | None:
        statement = upsert(connection.dialect.name, TimedWorkRow).values(row)
        result = await connection.execute(
            statement.on_conflict_do_nothing(index_elements=[TimedWorkRow.key])
        )
        return str(row["id"]) if result.rowcount == 1 else None

    async def claim(self, kinds: Collection[str], limit: int) -> list[TimedItem]:
        """Take up to `limit` items of `kinds` that are due, or whose owner's lease has passed,
        earliest first; each is this process's until it finishes it or its lease passes."""
        if not kinds or limit <= 0:
            return []
        now = self.clock()
        claimable = sa.and_(
            TimedWorkRow.kind.in_(sorted(kinds)),
            sa.or_(
                sa.and_(TimedWorkRow.state == TimedState.PENDING.value, TimedWorkRow.due_at <= now),
                sa.and_(
                    TimedWorkRow.state == TimedState.RUNNING.value,
                    TimedWorkRow.lease_until < now,
                    # Never its own: a process alive but late renewing still runs the item.
                    TimedWorkRow.owner != self.owner,
                ),
            ),
        )
        picked = (
            sa.select(TimedWorkRow.id)
            .where(claimable)
            .order_by(TimedWorkRow.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialised: as a plain subquery, PostgreSQL may evaluate it again for each row
            # it updates, and with SKIP LOCKED each evaluation can pick other rows.
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        claim = (
            sa.update(TimedWorkRow)
            # Conditional on the row still being claimable: of racing processes, one wins.
            .where(TimedWorkRow.id.in_(sa.select(picked.c.id)), claimable)
            .values(
                state=TimedState.RUNNING.value,
                owner=self.owner,
                lease_until=now + timedelta(seconds=self.lease_s),
                attempts=TimedWorkRow.attempts + 1,
            )
            .returning(*TimedWorkRow.__table__.columns)
        )
        async with self.database.engine.begin() as connection:
            rows = [row._mapping for row in await connection.execute(claim)]
        items = []
        for item in sorted(map(_item, rows), key=lambda item: item.due_at):
            if item.attempts > MAX_ATTEMPTS:
                logger.error(
                    "gave up on %s %s: claimed %d times without finishing",
                    item.kind,
                    item.id,
                    MAX_ATTEMPTS,
                )
                await self._end(item, TimedState.FAILED, last_error="claimed too often")
                continue
            items.append(item)
        return items

    async def renew(self, item_ids: Collection[str]) -> None:
        """This process is alive and still working on `item_ids`: their leases move on."""
        await self._update_all_mine(
            item_ids, {"lease_until": self.clock() + timedelta(seconds=self.lease_s)}
        )

    async def holds(self, item: TimedItem) -> bool:
        """Whether `item` is still this process's to run: not cancelled, not taken over. A
        handler asks before what cannot be undone (a message)."""
        async with self.database.reader.connect() as connection:
            found = await connection.scalar(
                sa.select(sa.func.count()).select_from(TimedWorkRow).where(self._mine([item.id]))
            )
        return bool(found)

    async def finish(self, item: TimedItem, outcome: Again | None = None) -> bool:
        """The handler is done with this run: the item ends, or with `outcome` waits for its
        next one. False when it was not this process's any more (cancelled, or taken over)."""
        if outcome is None:
            return await self._end(item, TimedState.DONE)
        values: dict[str, Any] = {
            "state": TimedState.PENDING.value,
            "due_at": self._spread(outcome.at, outcome.spread_s),
            "owner": None,
            "lease_until": None,
            "attempts": 0,
            "runs": TimedWorkRow.runs + 1,
            "last_error": None,
        }
        if outcome.payload is not None:
            values["payload"] = outcome.payload
        return await self._update_mine(item, values)

    async def failed(self, item: TimedItem, error: BaseException) -> bool:
        """The handler raised: the item is tried again later, backing off, and given up after
        MAX_ATTEMPTS (logged). Only the error's type is kept: its text may quote anything."""
        name = type(error).__name__[:200]
        if item.attempts >= MAX_ATTEMPTS:
            logger.error("gave up on %s %s after %d failures", item.kind, item.id, item.attempts)
            return await self._end(item, TimedState.FAILED, last_error=name)
        wait = min(RETRY_FIRST * 2 ** (item.attempts - 1), RETRY_MAX)
        return await self._update_mine(
            item,
            {
                "state": TimedState.PENDING.value,
                "due_at": self.clock() + wait,
                "owner": None,
                "lease_until": None,
                "last_error": name,
            },
        )

    async def release(self, item_ids: Collection[str]) -> None:
        """On shutdown: give `item_ids` back, due at once, for whoever runs next."""
        await self._update_all_mine(
            item_ids,
            {
                "state": TimedState.PENDING.value,
                "owner": None,
                "lease_until": None,
                "due_at": self.clock(),
                "attempts": sa.case(
                    (TimedWorkRow.attempts > 0, TimedWorkRow.attempts - 1), else_=0
                ),
            },
        )

    async def cancel(
        self,
        *,
        subject: str | None = None,
        kinds: Collection[str] | None = None,
        item_id: str | None = None,
        but: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> int:
        """End the open items of `subject` (of `kinds`, when given), or the item `item_id`, as
        cancelled: a handler running one cannot reschedule it. `but`: the item whose handler
        is asking, which ends by its own answer. How many were open."""
        if subject is None and item_id is None:
            raise ValueError("name the subject or the item to cancel")
        where: list[sa.ColumnElement[bool]] = [TimedWorkRow.state.in_(OPEN_STATES)]
        if subject is not None:
            where.append(TimedWorkRow.subject == subject)
        if item_id is not None:
            where.append(TimedWorkRow.id == item_id)
        if kinds is not None:
            where.append(TimedWorkRow.kind.in_(sorted(kinds)))
        if but is not None:
            where.append(TimedWorkRow.id != but)
        statement = (
            sa.update(TimedWorkRow)
            .where(*where)
            .values(
                state=TimedState.CANCELLED.value,
                owner=None,
                lease_until=None,
                finished_at=self.clock(),
            )
        )
        if connection is not None:
            return int((await connection.execute(statement)).rowcount)
        async with self.database.engine.begin() as own:
            return int((await own.execute(statement)).rowcount)

    async def open_items(
        self, *, subjects: Collection[str] | None = None, kinds: Collection[str] | None = None
    ) -> list[TimedItem]:
        """The items not finished yet (pending or running), of `subjects` and `kinds` when
        given, soonest due first."""
        query = sa.select(TimedWorkRow).where(TimedWorkRow.state.in_(OPEN_STATES))
        if subjects is not None:
            query = query.where(TimedWorkRow.subject.in_(sorted(subjects)))
        if kinds is not None:
            query = query.where(TimedWorkRow.kind.in_(sorted(kinds)))
        async with self.database.reader.connect() as connection:
            rows = (await connection.execute(query.order_by(TimedWorkRow.due_at))).mappings()
            return [_item(row) for row in rows]

    async def next_due(self, kinds: Collection[str]) -> datetime | None:
        """When the earliest pending item of `kinds` comes due (None: there is none)."""
        if not kinds:
            return None
        async with self.database.reader.connect() as connection:
            due: datetime | None = await connection.scalar(
                sa.select(sa.func.min(TimedWorkRow.due_at)).where(
                    TimedWorkRow.state == TimedState.PENDING.value,
                    TimedWorkRow.kind.in_(sorted(kinds)),
                )
            )
        return due

    async def purge(self) -> int:
        """Forget items finished (done, failed, cancelled) more than a day ago."""
        cutoff = self.clock() - KEEP_FINISHED
        async with self.database.engine.begin() as connection:
            result = await connection.execute(
                sa.delete(TimedWorkRow).where(
                    TimedWorkRow.state.not_in(OPEN_STATES), TimedWorkRow.finished_at < cutoff
                )
            )
        return int(result.rowcount)

    async def _update_all_mine(self, item_ids: Collection[str], values: dict[str, Any]) -> None:
        if not item_ids:
            return
        async with self.database.engine.begin() as connection:
            await connection.execute(
                sa.update(TimedWorkRow).where(self._mine(item_ids)).values(values)
            )

    def _mine(self, item_ids: Collection[str]) -> sa.ColumnElement[bool]:
        return sa.and_(
            TimedWorkRow.id.in_(sorted(item_ids)),
            TimedWorkRow.owner == self.owner,
            TimedWorkRow.state == TimedState.RUNNING.value,
        )

    async def _end(
        self, item: TimedItem, state: TimedState, *, last_error: str | None = None
    ) -> bool:
        return await self._update_mine(
            item,
            {
                "state": state.value,
                "owner": None,
                "lease_until": None,
                "finished_at": self.clock(),
                "runs": TimedWorkRow.runs + (1 if state == TimedState.DONE else 0),
                "last_error": last_error,
            },
        )

    async def _update_mine(self, item: TimedItem, values: dict[str, Any]) -> bool:
        async with self.database.engine.begin() as connection:
            result = await connection.execute(
                sa.update(TimedWorkRow).where(self._mine([item.id])).values(values)
            )
        if result.rowcount != 1:
            logger.info("%s %s was no longer this process's: left as it is", item.kind, item.id)
            return False
        return True

    def _spread(self, at: datetime, spread_s: float) -> datetime:
        if spread_s <= 0:
            return at
        return at + timedelta(seconds=self.rng.uniform(0, spread_s))


def _item(row: Any) -> TimedItem:
    return TimedItem(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        due_at=row["due_at"],
        payload=dict(row["payload"]),
        attempts=row["attempts"],
        runs=row["runs"],
    )
