"""Escalating a check to the support team: "Escalate to support" on a result opens the escalation
modal, worded for whether the person who clicked is a support agent; its submit opens the
escalation (once, however often it arrives), posts the triage message in the support channel with
the check's details in its thread, starts the response clock and tells the customer's thread. An
escalation whose triage post fails is discarded, and the customer told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Escalation
from bot.destination import Destination
from bot.response_targets import Urgency
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.support import (
    ESCALATE_ACTION,
    ESCALATE_MODAL_CALLBACK,
    ESCALATE_WITHOUT_CHECK,
    ESCALATION_FORM_UNREADABLE,
    GOAL_BLOCK,
    GOAL_INPUT,
    GOAL_MISSING,
    NOTE_BLOCK,
    NOTE_INPUT,
    URGENCY_BLOCK,
    URGENCY_INPUT,
    escalate_modal,
    read_escalation_metadata,
    support_asked_line,
    triage_details_message,
    triage_message,
)
from handlers.conversation import installing_team
from handlers.escalation_timers import start_clock
from handlers.payload import Origin, Submission, clicked_value, interaction_origin, tell_origin
from handlers.triage import permalink_of

logger = logging.getLogger(__name__)

# Asking Slack whether the clicker is an agent must leave time to open the modal (a trigger_id
# lives three seconds): past this, the store owner's wording is used.
AGENT_LOOKUP_S = 1.0


async def open_escalation(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Escalate to support" on a result: the escalation modal, worded for who clicked."""
    await ack()
    origin = interaction_origin(body)
    check_id = clicked_value(body)
    destination = origin.destination(context)
    if check_id is None:
        tell_origin(context, client, origin, ESCALATE_WITHOUT_CHECK)
        return
    if destination is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    services = services_of(context)
    services.tasks.spawn(
        _open_escalation_modal(
            services, client, origin, check_id, destination, installing_team(context)
        ),
        name="open escalation modal",
        on_failure=services.answers.failure_notice(Recipient.of(destination)),
    )


async def _open_escalation_modal(
    services: BotServices,
    client: AsyncWebClient,
    origin: Origin,
    check_id: str,
    destination: Destination,
    home_team: str | None,
) -> None:
    try:
        for_agent = await asyncio.wait_for(
            services.support.may_act(
                client, destination.requester, user_team=origin.user_team, home_team=home_team
            ),
            AGENT_LOOKUP_S,
        )
    except Exception:
        logger.info("could not tell whether %s is an agent", destination.requester, exc_info=True)
        for_agent = False
    view = escalate_modal(check_id, destination, for_agent=for_agent)
    await client.views_open(trigger_id=origin.trigger_id, view=view)


async def escalate(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """The escalation modal's submit: the triage post in the support channel.

    Everything is read before the ack: after it, a bad value would be lost silently. A form
    from an earlier version (without its goal, or metadata it cannot read) is told so."""
    submission = Submission(ack, body, client, context, unreadable=ESCALATION_FORM_UNREADABLE)
    form = submission.form
    try:
        check_id, destination = read_escalation_metadata(form.metadata or "")
    except (KeyError, ValueError, TypeError):
        await submission.refuse(GOAL_BLOCK)
        return
    if form.view_id is None or not form.has(GOAL_BLOCK, GOAL_INPUT):
        await submission.refuse(GOAL_BLOCK)
        return
    goal = form.typed(GOAL_BLOCK, GOAL_INPUT).strip()
    if not goal:
        await submission.refuse(GOAL_BLOCK, GOAL_MISSING)
        return
    try:
        urgency = Urgency(form.selected(URGENCY_BLOCK, URGENCY_INPUT) or Urgency.NORMAL)
    except ValueError:
        await submission.refuse(URGENCY_BLOCK, "Pick an urgency.")
        return
    await ack()
    note = form.typed(NOTE_BLOCK, NOTE_INPUT).strip()
    asker = replace(destination, requester=submission.origin.user or destination.requester)
    services = services_of(context)
    services.tasks.spawn(
        _post_escalation(services, form.view_id, check_id, asker, goal, urgency, note, client),
        name="escalate",
    )


async def _post_escalation(
    services: BotServices,
    view_id: str,
    check_id: str,
    asker: Destination,
    goal: str,
    urgency: Urgency,
    note: str,
    client: AsyncWebClient,
) -> None:
    # A double-clicked submit arrives twice: one escalation only.
    if not await services.seen.first_time(f"escalation-view:{view_id}"):
        return
    escalation: Escalation | None = None
    try:
        # The answer may be newer than its history row, or the database away: the check is
        # found wherever it is, and the escalation opened without waiting on the bookkeeping.
        check = await services.answers.find_check(check_id)
        if check is None:
            raise LookupError(f"check {check_id} is neither answered nor in the history")
        escalation = await services.recorder.open_escalation(
            check, asker, goal=goal, urgency=urgency, note=note
        )
        permalink = await permalink_of(client, escalation.destination)
        text, blocks = triage_message(
            escalation, check.report, permalink, services.database.clock()
        )
        assert services.support.channel is not None
        posted = await client.chat_postMessage(
            channel=services.support.channel, text=text, blocks=blocks, unfurl_links=False
        )
        await services.recorder.set_triage_message(
            escalation.id, str(posted["channel"]), str(posted["ts"])
        )
        await start_clock(services, escalation)
        text, blocks = triage_details_message(check.report)
        await client.chat_postMessage(
            channel=str(posted["channel"]),
            thread_ts=str(posted["ts"]),
            text=text,
            blocks=blocks,
            unfurl_links=False,
        )
        await services.answers.post(asker, support_asked_line(urgency))
    except Exception:
        if escalation is not None:
            # Not left open for ever in the App Home with no post to close it from.
            await services.recorder.discard_escalation(escalation.id)
        await services.answers.answer_failure(asker, None, "escalating failed")


def register(app: AsyncApp) -> None:
    app.action(ESCALATE_ACTION)(open_escalation)
    app.view(ESCALATE_MODAL_CALLBACK)(escalate)
