"""Reading escalations back: an `escalations` row as the `Escalation` value the rest of the bot
sees, and one escalation read by its ID inside a transaction that has just changed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.destination_columns import destination_of
from bot.db.escalations import Escalation, EscalationState, Feedback
from bot.db.models import EscalationRow
from bot.engine.diagnosis import Diagnosis
from bot.response_targets import Urgency


def escalation_of(row: sa.RowMapping) -> Escalation:
    """The `escalations` row `row`, as an `Escalation`."""
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


async def escalation_in(connection: AsyncConnection, escalation_id: str) -> Escalation:
    """The escalation `escalation_id` as `connection` sees it; raises LookupError if none."""
    row = (
        await connection.execute(sa.select(EscalationRow).where(EscalationRow.id == escalation_id))
    ).one_or_none()
    if row is None:
        raise LookupError(f"no escalation {escalation_id!r}")
    return escalation_of(row._mapping)
