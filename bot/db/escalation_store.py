"""The escalation store: opening an escalation for a recorded check, every change of its state
and response clock (take, first response, resolve, the customer's answer, reminders), and the
lists and counts the App Home and metrics read. Every change is compare-and-set: of racing
agents, replicas or clicks, exactly one changes the row; the others read what it became.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.destination_columns import destination_columns
from bot.db.escalation_figures import EscalationFigures, figures_since
from bot.db.escalation_rows import escalation_in, escalation_of
from bot.db.escalations import UNRESOLVED, Escalation, EscalationState, Feedback
from bot.db.models import CheckRow, EscalationRow
from bot.destination import Destination
from bot.engine.redaction import redact
from bot.response_targets import ResponseTargets, SupportClock, Urgency

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
        self,
        check_id: str,
        destination: Destination,
        *,
        goal: str,
        urgency: Urgency,
        note: str,
        escalation_id: str | None = None,
        created_at: datetime | None = None,
        triage: tuple[str, str] | None = None,
    ) -> Escalation:
        """Open an escalation for a recorded check; raises LookupError if there is no such check.

        The store ID and diagnosis are copied from the check; `goal` and `note` are redacted.
        Its first response falls due after the urgency's target, on the support clock. One
        opened while the database was away comes with its ID, its time and the triage message
        (channel, ts) already posted.
        """
        escalation_id = escalation_id or uuid.uuid4().hex
        now = created_at or self.clock()
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
                    "triage_channel": triage[0] if triage else None,
                    "triage_ts": triage[1] if triage else None,
                },
            )
            return await escalation_in(connection, escalation_id)

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
        return await self._update_if(
            escalation_id,
            (
                EscalationRow.state == EscalationState.OPEN.value,
                EscalationRow.responded_at.is_(None),
                EscalationRow.reminders_sent < reminders,
            ),
            reminders_sent=reminders,
            version=EscalationRow.version + 1,
        )

    async def mark_owner_reminded(self, escalation_id: str, owner: str) -> bool:
        """The owner `owner` was reminded privately; False when already done or not theirs."""
        return await self._update_if(
            escalation_id,
            (
                EscalationRow.state == EscalationState.TAKEN.value,
                EscalationRow.taken_by == owner,
                EscalationRow.owner_reminded_at.is_(None),
            ),
            owner_reminded_at=self.clock(),
        )

    async def _update_if(
        self, escalation_id: str, conditions: tuple[sa.ColumnElement[bool], ...], **values: Any
    ) -> bool:
        """Set `values` on the escalation if it still meets `conditions`: whether it did (of
        several processes trying at once, exactly one sees True)."""
        async with self.engine.begin() as connection:
            result = await connection.execute(
                sa.update(EscalationRow)
                .where(EscalationRow.id == escalation_id, *conditions)
                .values(**values)
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
        """The team's response figures since `since` (`bot.db.escalation_figures`)."""
        async with self.reader.connect() as connection:
            return await figures_since(connection, since)

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
            changed = await escalation_in(connection, escalation_id)
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
        return [escalation_of(row._mapping) for row in rows]


def _opened(row: sa.RowMapping) -> datetime:
    opened: datetime = row["opened_at"] or row["created_at"]
    return opened


def _overdue(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        EscalationRow.state == EscalationState.OPEN.value,
        EscalationRow.response_due_at <= now,
        EscalationRow.responded_at.is_(None),
    )
