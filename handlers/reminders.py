"""The reminders of an escalation nobody answers, run as timed work (`handlers.timed` wires
them): in the triage post's thread when the first response is overdue, once more after the
same interval again, and privately to the owner of a taken escalation still not resolved after
four times its target.

Each reminder is posted once, whatever restarts or replicas: the item is run by one process at
a time; a reminder carries a mark of its own in its metadata and, when an earlier attempt may
have posted it, is looked for before it is posted again; the escalation counts the reminders
sent, so a repeated run finds it done.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Escalation
from bot.db.timed import Again, TimedItem
from bot.destination import Destination, EntryPoint
from bot.slack.exactly_once import MESSAGE_EVENT, MessageMark
from bot.slack.services import BotServices
from handlers.blocks.reminders import owner_reminder_text, reminder_text
from handlers.escalation_timers import OWNER_REMINDER_FACTOR
from handlers.triage import permalink_of, refresh_triage, triage_thread

logger = logging.getLogger(__name__)

# The first reminder at the target, and at most one more after the same interval again.
MAX_REMINDERS = 2


async def _current(services: BotServices, item: TimedItem) -> Escalation | None:
    """The item's escalation, unless the item belongs to an earlier round of it."""
    escalation = await services.database.escalation(str(item.payload["escalation"]))
    if escalation is None or escalation.reopenings != int(item.payload["round"]):
        return None
    return escalation


async def remind_team(
    services: BotServices, client: AsyncWebClient, item: TimedItem
) -> Again | None:
    """The first response is overdue: say so in the triage post's thread, and mark the post."""
    escalation = await _current(services, item)
    number = int(item.payload["reminder"])
    triage = triage_thread(escalation) if escalation is not None else None
    if (
        escalation is None
        or triage is None
        or not escalation.waiting_for_response
        or escalation.response_due_at is None
    ):
        return None
    database = services.database
    if escalation.reminders_sent < number and await services.timed_work.holds(item):
        target = database.response_targets[escalation.urgency]
        opened = escalation.opened_at or escalation.created_at
        text = reminder_text(
            escalation,
            waited_s=database.support_clock.between(opened, database.clock()),
            target_s=target,
            permalink=await permalink_of(client, escalation.destination),
            user_group=services.support.user_group,
            last=number >= MAX_REMINDERS,
        )
        mark = MessageMark(MESSAGE_EVENT, "message_id", f"reminder:{item.id}:{number}")
        await services.answers.poster_for(triage).post(
            triage, text, mark=mark, look_first=item.attempts > 1
        )
        await database.mark_reminded(escalation.id, number)
    await refresh_triage(services, client, escalation.id)
    if number >= MAX_REMINDERS:
        return None
    target = database.response_targets[escalation.urgency]
    later = database.support_clock.add(escalation.response_due_at, number * target)
    return Again(at=later, payload={**item.payload, "reminder": number + 1})


async def remind_owner(
    services: BotServices, client: AsyncWebClient, item: TimedItem
) -> Again | None:
    """A taken escalation is still not resolved after four times its target: its owner is
    told, privately, once."""
    escalation = await _current(services, item)
    if escalation is None or escalation.taken_by is None or escalation.owner_reminded_at:
        return None
    database = services.database
    target = database.response_targets[escalation.urgency]
    opened = escalation.opened_at or escalation.created_at
    if not await services.timed_work.holds(item):
        return None
    text = owner_reminder_text(
        escalation,
        open_s=max(
            database.support_clock.between(opened, database.clock()),
            OWNER_REMINDER_FACTOR * target,
        ),
        target_s=target,
        permalink=await permalink_of(client, escalation.destination),
    )
    owner = Destination(
        channel=escalation.taken_by,  # a user ID as channel: the bot's DM with them
        thread_ts=None,
        requester=escalation.taken_by,
        team=escalation.destination.team,
        entry=EntryPoint.RERUN,
    )
    mark = MessageMark(MESSAGE_EVENT, "message_id", f"owner-reminder:{item.id}")
    await services.answers.poster_for(owner).post(
        owner, text, mark=mark, look_first=item.attempts > 1
    )
    await database.mark_owner_reminded(escalation.id, escalation.taken_by)
    return None
