"""Escalations: a check handed to the support team, its response clock, and the customer's word.

An escalation goes open → taken → resolved, and back to open when the person who asked answers
"Still stuck". Its clock runs on the support team's hours (`bot.response_targets.SupportClock`):
at creation (and at each reopening) the first response falls due after the urgency's target;
the first Take or reply to the customer stops it, and the support time it took is kept, as is
the support time to resolution. The team's numbers (medians, the share answered "yes", what is
overdue) are computed in the database, over indexes, never by loading rows into Python.

Every change is compare-and-set: of racing agents, replicas or clicks, exactly one changes the
row; the others read what it became.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from bot.db.models import CheckRow, EscalationRow
from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.engine.redaction import redact
from bot.response_targets import ResponseTargets, SupportClock, Urgency


class EscalationState(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    RESOLVED = "resolved"


UNRESOLVED = (EscalationState.OPEN.value, EscalationState.TAKEN.value)


class Feedback(StrEnum):
    """The customer's answer to "Did it help?" after Resolved."""

    YES = "yes"
    STUCK = "stuck"


@dataclass(frozen=True)
class Escalation:
    """A check handed to the support team: who took and resolved it, and its response clock.

    `opened_at` is when the clock started (creation or the last reopening); `response_due_at`
    when a first response is due; `responded_at` the first Take or reply to the customer since.
    `reopenings` counts the "Still stuck" answers: it numbers the rounds of "Did it help?".
    """

    id: str
    check_id: str
    created_at: datetime
    destination: Destination  # the customer's thread
    store_id: int | None
    diagnosis: Diagnosis
    goal: str
    urgency: Urgency
    note: str
    state: EscalationState
    taken_by: str | None
    taken_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    triage_channel: str | None
    triage_ts: str | None
    version: int
    opened_at: datetime | None = None
    response_due_at: datetime | None = None
    responded_at: datetime | None = None
    responded_by: str | None = None
    response_s: float | None = None
    reminders_sent: int = 0
    owner_reminded_at: datetime | None = None
    resolution_s: float | None = None
    feedback: Feedback | None = None
    feedback_by: str | None = None
    feedback_at: datetime | None = None
    reopenings: int = 0

    def overdue(self, now: datetime) -> bool:
        """Open, nobody has responded, and its first response was due before `now`."""
        return (
            self.state is EscalationState.OPEN
            and self.responded_at is None
            and self.response_due_at is not None
            and self.response_due_at <= now
        )

    @property
    def waiting_for_response(self) -> bool:
        """Still waiting for a first response: the reminders are for these."""
        return self.state is EscalationState.OPEN and self.responded_at is None


@dataclass(frozen=True)
class EscalationFigures:
    """The team's response numbers since `since`: medians in support seconds (None: no data),
    and how many answered "Did it help?", how many of them "yes"."""

    since: datetime
    responded: int
    median_response_s: float | None
    resolved: int
    median_resolution_s: float | None
    answered: int
    answered_yes: int

    @property
    def yes_share(self) -> float | None:
        """The share of answers that were "yes", from 0 to 1; None when nobody answered."""
        return self.answered_yes / self.answered if self.answered else None


Values = Callable[[sa.RowMapping], dict[str, Any]]
"""The columns a change sets, given the row as it is before."""


class EscalationStore:
    """The escalation half of `bot.db.database.Database`: it has the engine, the reader,
    the clock, and the support clock and targets its response times are counted on."""

    engine: AsyncEngine
    reader: AsyncEngine
    clock: Callable[[], datetime]
    support_clock: SupportClock
    response_targets: ResponseTargets
    #: Told (urgency, support seconds) of every first response recorded: metrics.
    on_response: list[Callable[[str, float], None]]
    #: Told (urgency, support seconds) of every resolution: metrics.
    on_resolution: list[Callable[[str, float], None]]

    async def create_escalation(
        self, check_id: str, destination: Destination, *, goal: str, urgency: Urgency, note: str
    ) -> Escalation:
        """Open an escalation for a recorded check; raises LookupError if there is no such check.

        The store ID and diagnosis are copied from the check; `goal` and `note` are redacted.
        Its first response falls due after the urgency's target, on the support clock.
        """
        escalation_id = uuid.uuid4().hex
        now = self.clock()
        async with self.engine.begin() as connection:
            check = (
                await connection.execute(
                    sa.select(CheckRow.store_id, CheckRow.diagnosis).where(CheckRow.id == check_id)
                )
            ).one_or_none()
            if check is None:
                raise LookupError(f"no check {check_id!r}")
            await connection.execute(
                sa.insert(EscalationRow),
                {
                    "id": escalation_id,
                    "check_id": check_id,
                    "created_at": now,
                    **destination_columns(destination),
                    "store_id": check.store_id,
                    "diagnosis": check.diagnosis,
                    "goal": redact(goal),
                    "urgency": urgency.value,
                    "note": redact(note),
                    "state": EscalationState.OPEN.value,
                    "version": 1,
                    "opened_at": now,
                    "response_due_at": self.response_due(urgency, now),
                    "reminders_sent": 0,
                    "reopenings": 0,
                },
            )
            return await _escalation_in(connection, escalation_id)

    def response_due(self, urgency: Urgency, start: datetime) -> datetime:
        """When a first response is due for an escalation of `urgency` opened at `start`."""
        return self.support_clock.add(start, self.response_targets[urgency])

    async def set_triage_message(self, escalation_id: str, channel: str, ts: str) -> None:
        """Remember the message that shows this escalation to the support team."""
        async with self.engine.begin() as connection:
            await connection.execute(
                sa.update(EscalationRow)
                .where(EscalationRow.id == escalation_id)
                .values(triage_channel=channel, triage_ts=ts, version=EscalationRow.version + 1)
            )

    async def discard_escalation(self, escalation_id: str) -> None:
        """Forget an escalation the support team was never shown (its post failed)."""
        async with self.engine.begin() as connection:
            await connection.execute(
                sa.delete(EscalationRow).where(
                    EscalationRow.id == escalation_id, EscalationRow.triage_ts.is_(None)
                )
            )

    async def escalation(self, escalation_id: str) -> Escalation | None:
        """The escalation with this ID, if there is one."""
        rows = await self._read_escalations(
            sa.select(EscalationRow).where(EscalationRow.id == escalation_id)
        )
        return rows[0] if rows else None

    async def take(self, escalation_id: str, agent_id: str) -> tuple[Escalation, bool]:
        """`agent_id` takes an open escalation; the bool says whether this call took it.

        When it was already taken or resolved, by anyone, nothing changes and the current state
        is returned: of several agents clicking at once, exactly one becomes the owner. A Take
        is a first response when none came before. Raises LookupError if there is none.
        """
        now = self.clock()
        return await self._transition(
            escalation_id,
            (EscalationState.OPEN,),
            lambda row: {
                "state": EscalationState.TAKEN.value,
                "taken_by": agent_id,
                "taken_at": now,
                **self._first_response(row, agent_id, now),
            },
        )

    async def record_response(self, escalation_id: str, agent_id: str) -> tuple[Escalation, bool]:
        """`agent_id` replied to the customer: the first response, unless one came before (or
        the escalation is resolved); the bool says whether this call recorded it."""
        now = self.clock()
        return await self._transition(
            escalation_id,
            (EscalationState.OPEN, EscalationState.TAKEN),
            lambda row: self._first_response(row, agent_id, now),
            EscalationRow.responded_at.is_(None),
        )

    async def resolve(self, escalation_id: str, agent_id: str) -> tuple[Escalation, bool]:
        """Resolve an open or taken escalation; resolving it again changes nothing (False).

        Resolving answers the customer too: a first response, when none came before."""
        now = self.clock()
        return await self._transition(
            escalation_id,
            (EscalationState.OPEN, EscalationState.TAKEN),
            lambda row: {
                "state": EscalationState.RESOLVED.value,
                "resolved_by": agent_id,
                "resolved_at": now,
                "resolution_s": self.support_clock.between(_opened(row), now),
                **self._first_response(row, agent_id, now),
            },
        )

    async def answer_feedback(
        self, escalation_id: str, round_: int, user_id: str, answer: Feedback
    ) -> tuple[Escalation, bool]:
        """The customer's answer to round `round_` of "Did it help?" (its `reopenings` when
        asked); only the first answer counts (False after). "Still stuck" reopens the
        escalation: open again, nobody's, and its response clock starts again."""
        now = self.clock()

        def values(row: sa.RowMapping) -> dict[str, Any]:
            answered = {"feedback": answer.value, "feedback_by": user_id, "feedback_at": now}
            if answer is Feedback.YES:
                return answered
            return {**answered, **self._reopened(row, now)}

        unanswered = sa.or_(
            EscalationRow.feedback_at.is_(None),
            EscalationRow.feedback_at < EscalationRow.resolved_at,
        )
        return await self._transition(
            escalation_id,
            (EscalationState.RESOLVED,),
            values,
            unanswered,
            EscalationRow.reopenings == round_,
        )

    async def mark_reminded(self, escalation_id: str, reminders: int) -> bool:
        """Count `reminders` reminders sent since the clock started; False when it was counted
        already or no reminder is wanted any more (taken, answered, resolved)."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                sa.update(EscalationRow)
                .where(
                    EscalationRow.id == escalation_id,
                    EscalationRow.state == EscalationState.OPEN.value,
                    EscalationRow.responded_at.is_(None),
                    EscalationRow.reminders_sent < reminders,
                )
                .values(reminders_sent=reminders, version=EscalationRow.version + 1)
            )
        return result.rowcount == 1

    async def mark_owner_reminded(self, escalation_id: str, owner: str) -> bool:
        """The owner `owner` was reminded privately; False when already done or not theirs."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                sa.update(EscalationRow)
                .where(
                    EscalationRow.id == escalation_id,
                    EscalationRow.state == EscalationState.TAKEN.value,
                    EscalationRow.taken_by == owner,
                    EscalationRow.owner_reminded_at.is_(None),
                )
                .values(owner_reminded_at=self.clock())
            )
        return result.rowcount == 1

    async def open_escalations(self, limit: int | None = None) -> list[Escalation]:
        """Escalations not yet resolved (open or taken): overdue first, most overdue first,
        then the rest oldest first; the first `limit` of them when given."""
        overdue = _overdue(self.clock())
        return await self._read_escalations(
            sa.select(EscalationRow)
            # Named states, not "not resolved": a range of the (state, created_at) index.
            .where(EscalationRow.state.in_(UNRESOLVED))
            .order_by(
                sa.case((overdue, 0), else_=1),
                sa.case((overdue, EscalationRow.response_due_at), else_=EscalationRow.created_at),
                EscalationRow.id,
            )
            .limit(limit)
        )

    async def open_counts(self) -> tuple[int, int]:
        """How many escalations are not resolved, and how many of them are overdue."""
        overdue = sa.func.sum(sa.case((_overdue(self.clock()), 1), else_=0))
        async with self.reader.connect() as connection:
            unresolved, late = (
                await connection.execute(
                    sa.select(sa.func.count(), overdue).where(EscalationRow.state.in_(UNRESOLVED))
                )
            ).one()
        return int(unresolved or 0), int(late or 0)

    async def overdue_count(self) -> int:
        """How many escalations wait past their first response's due time (an index range)."""
        async with self.reader.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(EscalationRow).where(_overdue(self.clock()))
            )
        return int(count or 0)

    async def escalations_in_thread(self, channel: str, thread_ts: str) -> list[Escalation]:
        """The escalations not resolved whose customer's thread this is."""
        return await self._read_escalations(
            sa.select(EscalationRow).where(
                EscalationRow.channel_id == channel,
                EscalationRow.thread_ts == thread_ts,
                EscalationRow.state.in_(UNRESOLVED),
            )
        )

    async def escalations_for_store(self, store_id: int, limit: int = 20) -> list[Escalation]:
        """This store's latest escalations, newest first."""
        return await self._read_escalations(
            sa.select(EscalationRow)
            .where(EscalationRow.store_id == store_id)
            .order_by(EscalationRow.created_at.desc(), EscalationRow.id)
            .limit(limit)
        )

    async def escalation_figures(self, since: datetime) -> EscalationFigures:
        """Medians of the support time to first response and to resolution of the escalations
        answered (resolved) since `since`, and the answers to "Did it help?" since then."""
        async with self.reader.connect() as connection:
            responded, response = await _median(
                connection, EscalationRow.response_s, EscalationRow.responded_at, since
            )
            resolved, resolution = await _median(
                connection, EscalationRow.resolution_s, EscalationRow.resolved_at, since
            )
            yes = sa.func.sum(sa.case((EscalationRow.feedback == Feedback.YES.value, 1), else_=0))
            answered, answered_yes = (
                await connection.execute(
                    sa.select(sa.func.count(), yes).where(EscalationRow.feedback_at >= since)
                )
            ).one()
        return EscalationFigures(
            since=since,
            responded=responded,
            median_response_s=response,
            resolved=resolved,
            median_resolution_s=resolution,
            answered=int(answered or 0),
            answered_yes=int(answered_yes or 0),
        )

    def _first_response(self, row: sa.RowMapping, agent_id: str, now: datetime) -> dict[str, Any]:
        if row["responded_at"] is not None:
            return {}
        return {
            "responded_at": now,
            "responded_by": agent_id,
            "response_s": self.support_clock.between(_opened(row), now),
        }

    def _reopened(self, row: sa.RowMapping, now: datetime) -> dict[str, Any]:
        return {
            "state": EscalationState.OPEN.value,
            "taken_by": None,
            "taken_at": None,
            "resolved_by": None,
            "resolved_at": None,
            "resolution_s": None,
            "opened_at": now,
            "response_due_at": self.response_due(Urgency(row["urgency"]), now),
            "responded_at": None,
            "responded_by": None,
            "response_s": None,
            "reminders_sent": 0,
            "owner_reminded_at": None,
            "reopenings": row["reopenings"] + 1,
        }

    async def _transition(
        self,
        escalation_id: str,
        allowed_from: Sequence[EscalationState],
        values: Values,
        *conditions: sa.ColumnElement[bool],
    ) -> tuple[Escalation, bool]:
        # Compare-and-set: the row is read locked (FOR UPDATE on PostgreSQL; SQLite runs one
        # writer at a time), and the UPDATE applies only while its state is one it may leave:
        # of racing calls, exactly one changes it.
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    sa.select(EscalationRow)
                    .where(EscalationRow.id == escalation_id)
                    .with_for_update()
                )
            ).one_or_none()
            if row is None:
                raise LookupError(f"no escalation {escalation_id!r}")
            current = row._mapping
            result = await connection.execute(
                sa.update(EscalationRow)
                .where(
                    EscalationRow.id == escalation_id,
                    EscalationRow.state.in_([state.value for state in allowed_from]),
                    *conditions,
                )
                .values(**values(current), version=EscalationRow.version + 1)
            )
            changed = await _escalation_in(connection, escalation_id)
        if result.rowcount == 1:
            self._tell_observers(current, changed)
        return changed, result.rowcount == 1

    def _tell_observers(self, before: sa.RowMapping, after: Escalation) -> None:
        urgency = after.urgency.value
        if before["responded_at"] is None and after.response_s is not None:
            for observer in self.on_response:
                observer(urgency, after.response_s)
        if before["resolved_at"] is None and after.resolution_s is not None:
            for observer in self.on_resolution:
                observer(urgency, after.resolution_s)

    async def _read_escalations(self, query: sa.Select[Any]) -> list[Escalation]:
        async with self.reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_escalation(row._mapping) for row in rows]


def _opened(row: sa.RowMapping) -> datetime:
    opened: datetime = row["opened_at"] or row["created_at"]
    return opened


def _overdue(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        EscalationRow.state == EscalationState.OPEN.value,
        EscalationRow.response_due_at <= now,
        EscalationRow.responded_at.is_(None),
    )


async def _median(
    connection: AsyncConnection,
    value: InstrumentedAttribute[float | None],
    at: InstrumentedAttribute[datetime | None],
    since: datetime,
) -> tuple[int, float | None]:
    """How many rows have `at` since `since`, and the median of their `value`: PostgreSQL's
    percentile_cont; on SQLite the middle row(s) of an ordered scan of the (at, value) index."""
    window = sa.and_(at >= since, value.is_not(None))
    if connection.dialect.name == "postgresql":
        count, median = (
            await connection.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.percentile_cont(0.5).within_group(value),
                ).where(window)
            )
        ).one()
        return int(count), None if median is None else float(median)
    count = int(await connection.scalar(sa.select(sa.func.count()).where(window)) or 0)
    if count == 0:
        return 0, None
    middle = (
        await connection.execute(
            sa.select(value)
            .where(window)
            .order_by(value)
            .limit(2 - count % 2)
            .offset((count - 1) // 2)
        )
    ).scalars()
    values = [float(v) for v in middle if v is not None]
    return count, sum(values) / len(values)


def destination_columns(destination: Destination) -> dict[str, str | None]:
    """The columns that say where a check or escalation was asked."""
    return {
        "team_id": destination.team,
        "channel_id": destination.channel,
        "thread_ts": destination.thread_ts,
        "requester_id": destination.requester,
    }


def destination_of(row: sa.RowMapping, entry: str = EntryPoint.MODAL) -> Destination:
    """Where a recorded check or escalation was asked."""
    return Destination(
        channel=row["channel_id"],
        thread_ts=row["thread_ts"],
        requester=row["requester_id"],
        team=row["team_id"],
        entry=EntryPoint(entry),
    )


def _escalation(row: sa.RowMapping) -> Escalation:
    return Escalation(
        id=row["id"],
        check_id=row["check_id"],
        created_at=row["created_at"],
        destination=destination_of(row),
        store_id=row["store_id"],
        diagnosis=Diagnosis(row["diagnosis"]),
        goal=row["goal"],
        urgency=Urgency(row["urgency"]),
        note=row["note"],
        state=EscalationState(row["state"]),
        taken_by=row["taken_by"],
        taken_at=row["taken_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        triage_channel=row["triage_channel"],
        triage_ts=row["triage_ts"],
        version=row["version"],
        opened_at=row["opened_at"],
        response_due_at=row["response_due_at"],
        responded_at=row["responded_at"],
        responded_by=row["responded_by"],
        response_s=row["response_s"],
        reminders_sent=row["reminders_sent"],
        owner_reminded_at=row["owner_reminded_at"],
        resolution_s=row["resolution_s"],
        feedback=Feedback(row["feedback"]) if row["feedback"] else None,
        feedback_by=row["feedback_by"],
        feedback_at=row["feedback_at"],
        reopenings=row["reopenings"],
    )


async def _escalation_in(connection: AsyncConnection, escalation_id: str) -> Escalation:
    row = (
        await connection.execute(sa.select(EscalationRow).where(EscalationRow.id == escalation_id))
    ).one_or_none()
    if row is None:
        raise LookupError(f"no escalation {escalation_id!r}")
    return _escalation(row._mapping)
