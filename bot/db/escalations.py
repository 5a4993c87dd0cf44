"""Escalations as the bot sees them: a check handed to the support team, its state, its response
clock and the customer's word. An escalation goes open → taken → resolved, and back to open when
the person who asked answers "Still stuck"; its clock runs on the support team's hours
(`bot.response_targets.SupportClock`). These are the values the rest of the bot reads; the store
that changes them is `bot.db.escalation_store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis
from bot.response_targets import Urgency


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
