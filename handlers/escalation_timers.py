"""When an escalation's reminders fall due, as timed work (`bot.db.timed`): scheduled when
its clock starts, cancelled when it no longer needs them. The reminders themselves are
`handlers.reminders`; this module only books and cancels them, so that the triage buttons can
without importing what the reminders post."""

from __future__ import annotations

from bot.db.escalations import Escalation
from bot.db.timed import TimedWork
from bot.slack.services import BotServices

ESCALATION_REMINDER_KIND = "escalation_reminder"
ESCALATION_OWNER_REMINDER_KIND = "escalation_owner_reminder"
# A taken escalation not resolved within this many times its target reminds its owner.
OWNER_REMINDER_FACTOR = 4


async def start_clock(services: BotServices, escalation: Escalation) -> None:
    """The first reminder, at the first response's due time (one per round: a reopened
    escalation gets its own)."""
    await book_first_reminder(services.timed_work, escalation)
    services.timed.wake()


async def book_first_reminder(work: TimedWork, escalation: Escalation) -> None:
    """The item of the escalation's first reminder in this round; booking it twice makes one."""
    if escalation.response_due_at is None:
        return
    await work.schedule(
        ESCALATION_REMINDER_KIND,
        escalation.response_due_at,
        {"escalation": escalation.id, "round": escalation.reopenings, "reminder": 1},
        subject=escalation.id,
        key=f"{ESCALATION_REMINDER_KIND}:{escalation.id}:{escalation.reopenings}",
    )


async def responded(services: BotServices, escalation: Escalation) -> None:
    """A first response came (a Take or a reply to the customer): no reminder any more; once
    taken, the owner's reminder at four times the target."""
    await services.timed_work.cancel(subject=escalation.id, kinds=[ESCALATION_REMINDER_KIND])
    if escalation.taken_by is None or escalation.opened_at is None:
        return
    database = services.database
    target = database.response_targets[escalation.urgency]
    # Four times the target from the opening; one taken late still gets a target's time first.
    due = max(
        database.support_clock.add(escalation.opened_at, OWNER_REMINDER_FACTOR * target),
        database.support_clock.add(database.clock(), target),
    )
    await services.timed_work.schedule(
        ESCALATION_OWNER_REMINDER_KIND,
        due,
        {"escalation": escalation.id, "round": escalation.reopenings},
        subject=escalation.id,
        key=f"{ESCALATION_OWNER_REMINDER_KIND}:{escalation.id}:{escalation.reopenings}",
    )
    services.timed.wake()


async def stop_clock(services: BotServices, escalation: Escalation) -> None:
    """Resolved: nothing more to remind anyone of."""
    await services.timed_work.cancel(
        subject=escalation.id, kinds=[ESCALATION_REMINDER_KIND, ESCALATION_OWNER_REMINDER_KIND]
    )
