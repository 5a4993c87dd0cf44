"""An escalation's response clock and the customer's feedback, in the database: due times on
the support clock, the first response, resolution, "Did it help?" answered once, reopening, and
the team's figures computed by the database (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.database import Database
from bot.db.escalations import EscalationState, Feedback
from bot.destination import Destination
from bot.response_targets import ResponseTargets, SupportClock, SupportHours, Urgency
from tests.db.test_database import report
from tests.db_fixtures import (  # noqa: F401
    START,
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

ASKER = Destination(channel="C0CUSTOMER", thread_ts="1700000000.000100", requester="U0ASKER")


async def escalate(database: Database, urgency: Urgency = Urgency.BLOCKING) -> str:
    check_id = await database.record_check(report(), ASKER)
    escalation = await database.create_escalation(
        check_id, ASKER, goal="migrate", urgency=urgency, note=""
    )
    return escalation.id


async def test_first_response_falls_due_after_the_urgencys_target(database: Database) -> None:
    database.response_targets = ResponseTargets.parse("blocking=30m,normal=4h")
    escalation = await database.escalation(await escalate(database, Urgency.NORMAL))
    assert escalation is not None
    assert escalation.opened_at == START
    assert escalation.response_due_at == START + timedelta(hours=4)


async def test_the_due_time_counts_only_support_hours(database: Database) -> None:
    # START is Monday 09:30 UTC; support closes at 10:00 and opens again Tuesday at 09:00.
    database.support_clock = SupportClock(SupportHours.parse("Mon-Fri 09:00-10:00 UTC"))
    database.response_targets = ResponseTargets.parse("blocking=45m")
    escalation = await database.escalation(await escalate(database))
    assert escalation is not None
    assert escalation.response_due_at == START + timedelta(days=1, minutes=-15)


async def test_a_take_is_the_first_response_and_its_time_is_kept(
    database: Database, clock: FakeClock
) -> None:
    escalation_id = await escalate(database)
    clock.advance(600)
    taken, changed = await database.take(escalation_id, "U0AGENT")
    assert changed
    assert taken.responded_at == clock.now
    assert taken.responded_by == "U0AGENT"
    assert taken.response_s == 600
    clock.advance(600)
    again, changed = await database.record_response(escalation_id, "U0OTHER")
    assert not changed
    assert again.response_s == 600


async def test_resolving_keeps_the_support_time_to_resolution(
    database: Database, clock: FakeClock
) -> None:
    escalation_id = await escalate(database)
    clock.advance(3600)
    resolved, changed = await database.resolve(escalation_id, "U0AGENT")
    assert changed
    assert resolved.resolution_s == 3600
    assert resolved.response_s == 3600  # Resolved answered the customer too


async def test_feedback_is_recorded_once(database: Database, clock: FakeClock) -> None:
    escalation_id = await escalate(database)
    await database.resolve(escalation_id, "U0AGENT")
    clock.advance(60)
    answered, changed = await database.answer_feedback(escalation_id, 0, "U0ASKER", Feedback.YES)
    assert changed
    assert answered.feedback is Feedback.YES
    assert answered.feedback_by == "U0ASKER"
    _, changed = await database.answer_feedback(escalation_id, 0, "U0ASKER", Feedback.STUCK)
    assert not changed


async def test_still_stuck_reopens_with_a_fresh_clock(database: Database, clock: FakeClock) -> None:
    escalation_id = await escalate(database)
    await database.take(escalation_id, "U0AGENT")
    await database.resolve(escalation_id, "U0AGENT")
    clock.advance(7200)
    reopened, changed = await database.answer_feedback(escalation_id, 0, "U0ASKER", Feedback.STUCK)
    assert changed
    assert reopened.state is EscalationState.OPEN
    assert reopened.taken_by is None
    assert reopened.reopenings == 1
    assert reopened.opened_at == clock.now
    assert reopened.response_due_at == clock.now + timedelta(minutes=30)
    assert reopened.responded_at is None
    assert reopened.reminders_sent == 0
    # The next round's question is a new one; the old round's buttons answer nothing.
    clock.advance(60)
    await database.resolve(escalation_id, "U0AGENT")
    _, changed = await database.answer_feedback(escalation_id, 0, "U0ASKER", Feedback.YES)
    assert not changed
    _, changed = await database.answer_feedback(escalation_id, 1, "U0ASKER", Feedback.YES)
    assert changed


async def test_reminders_are_counted_once_and_not_after_a_response(
    database: Database, clock: FakeClock
) -> None:
    escalation_id = await escalate(database)
    assert await database.mark_reminded(escalation_id, 1)
    assert not await database.mark_reminded(escalation_id, 1)
    await database.take(escalation_id, "U0AGENT")
    assert not await database.mark_reminded(escalation_id, 2)


async def test_overdue_escalations_come_first_and_are_counted(
    database: Database, clock: FakeClock
) -> None:
    low = await escalate(database, Urgency.LOW)
    clock.advance(60)
    blocking = await escalate(database, Urgency.BLOCKING)
    assert await database.overdue_count() == 0
    clock.advance(31 * 60)
    assert await database.overdue_count() == 1
    assert [e.id for e in await database.open_escalations()] == [blocking, low]
    await database.take(blocking, "U0AGENT")
    assert await database.overdue_count() == 0


async def test_the_team_figures_are_medians_and_a_share(
    database: Database, clock: FakeClock
) -> None:
    since = clock.now
    for minutes, answer in ((10, Feedback.YES), (20, None), (60, Feedback.YES)):
        escalation_id = await escalate(database)
        clock.advance(minutes * 60)
        await database.take(escalation_id, "U0AGENT")
        clock.advance(minutes * 60)
        await database.resolve(escalation_id, "U0AGENT")
        if answer is not None:
            await database.answer_feedback(escalation_id, 0, "U0ASKER", answer)
    # Still stuck: reopened, so its times start again and count once it is answered anew.
    stuck = await escalate(database)
    await database.resolve(stuck, "U0AGENT")
    await database.answer_feedback(stuck, 0, "U0ASKER", Feedback.STUCK)
    await escalate(database)  # not answered yet: in no median
    figures = await database.escalation_figures(since)
    assert figures.responded == 3
    assert figures.median_response_s == 20 * 60
    assert figures.resolved == 3
    assert figures.median_resolution_s == 40 * 60
    assert (figures.answered, figures.answered_yes) == (3, 2)
    assert figures.yes_share == pytest.approx(2 / 3)


async def test_an_even_count_has_the_mean_of_the_middle_two_as_median(
    database: Database, clock: FakeClock
) -> None:
    since = clock.now
    for minutes in (10, 20, 30, 70):
        escalation_id = await escalate(database)
        clock.advance(minutes * 60)
        await database.take(escalation_id, "U0AGENT")
    figures = await database.escalation_figures(since)
    assert figures.median_response_s == 25 * 60
    assert figures.median_resolution_s is None
    assert figures.yes_share is None
