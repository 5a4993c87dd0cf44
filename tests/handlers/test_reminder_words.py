"""The words of an escalation's clock, as pure builders: who a reminder calls, what it says (a
diagnosis by its title, never its code), and the owner's private nudge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.db.escalations import Escalation, EscalationState
from bot.destination import Destination
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.response_targets import Urgency
from handlers.blocks.reminders import owner_reminder_text, reminder_mention, reminder_text

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def escalation(urgency: Urgency = Urgency.NORMAL) -> Escalation:
    return Escalation(
        id="e" * 32,
        check_id="c" * 32,
        created_at=AT,
        destination=Destination(channel="C0CUST", thread_ts="1.2", requester="U0OWNER"),
        store_id=1003,
        diagnosis=Diagnosis.PLAN_FREE,
        goal="migrate",
        urgency=urgency,
        note="",
        state=EscalationState.OPEN,
        taken_by=None,
        taken_at=None,
        resolved_by=None,
        resolved_at=None,
        triage_channel="C0SUPPORT",
        triage_ts="9.9",
        version=2,
    )


@pytest.mark.parametrize(
    ("urgency", "group", "mention"),
    [
        (Urgency.BLOCKING, "S0SUPPORT", "<!subteam^S0SUPPORT> "),
        (Urgency.LOW, "S0SUPPORT", "<!subteam^S0SUPPORT> "),
        (Urgency.BLOCKING, None, "<!here> "),
        (Urgency.NORMAL, None, ""),
        (Urgency.LOW, None, ""),
    ],
)
def test_a_reminder_calls_the_group_else_the_channel_only_when_blocked(
    urgency: Urgency, group: str | None, mention: str
) -> None:
    assert reminder_mention(urgency, group) == mention


def test_a_reminder_says_what_waits_for_how_long_and_where() -> None:
    text = reminder_text(
        escalation(),
        waited_s=4 * 3600 + 120,
        target_s=4 * 3600,
        permalink="https://example.slack.com/archives/C0CUST/p12",
        user_group=None,
        last=False,
    )

    assert CATALOGUE[Diagnosis.PLAN_FREE].title in text
    assert Diagnosis.PLAN_FREE.value not in text
    assert "waited 4 h 2 min" in text
    assert "target 4 h" in text
    assert "store 1003" in text
    assert "<https://example.slack.com/archives/C0CUST/p12|the customer's thread>" in text


def test_the_last_reminder_says_so() -> None:
    text = reminder_text(
        escalation(), waited_s=1, target_s=1, permalink=None, user_group=None, last=True
    )

    assert "last reminder" in text
    assert "the customer's thread" in text


def test_the_owners_nudge_names_the_case_and_the_target() -> None:
    text = owner_reminder_text(escalation(), open_s=16 * 3600, target_s=4 * 3600, permalink=None)

    assert CATALOGUE[Diagnosis.PLAN_FREE].title in text
    assert "16 h" in text
    assert "4 h response target" in text
    assert "<@U0OWNER>" in text
