""" "Did it help?": the question asked in the customer's thread after Resolved, and its two
buttons. Only the person who asked support may answer, once per round: "Yes, it works" is
recorded; "Still stuck" reopens the escalation (open again, its response clock and reminders
started anew), re-renders the triage post and tells the support channel. Anyone else gets a
private "not yours to answer"; a second click, a private "already answered".
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Feedback
from bot.slack.posting import tell_privately
from bot.slack.services import BotServices, services_of
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.reminders import (
    ALREADY_ANSWERED,
    FEEDBACK_STUCK_ACTION,
    FEEDBACK_WITHOUT_ESCALATION,
    FEEDBACK_YES_ACTION,
    NOT_YOURS,
    feedback_answered,
    reopened_text,
)
from handlers.escalation_timers import start_clock
from handlers.payload import (
    Origin,
    clicked_action_id,
    clicked_value,
    interaction_origin,
    tell_origin,
)
from handlers.triage import permalink_of, refresh_triage

ANSWERS = {FEEDBACK_YES_ACTION: Feedback.YES, FEEDBACK_STUCK_ACTION: Feedback.STUCK}


async def feedback_button(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A click on "Yes, it works" or "Still stuck"."""
    await ack()
    origin = interaction_origin(body)
    answer = ANSWERS.get(clicked_action_id(body) or "")
    value = clicked_value(body)
    if origin.user is None or answer is None or value is None:
        tell_origin(context, client, origin, CLICK_AGAIN if value else FEEDBACK_WITHOUT_ESCALATION)
        return
    services = services_of(context)
    services.tasks.spawn(
        _answer(services, client, origin, origin.user, answer, value),
        name="feedback",
        on_failure=services.answers.failure_notice(origin.recipient(origin.user)),
    )


async def _answer(
    services: BotServices,
    client: AsyncWebClient,
    origin: Origin,
    user: str,
    answer: Feedback,
    value: str,
) -> None:
    async def privately(text: str) -> None:
        await tell_privately(client, origin.recipient(user), text)

    escalation_id, _, round_ = value.partition(":")
    escalation = await services.database.escalation(escalation_id)
    if escalation is None or not round_.isdigit():
        await privately("This escalation is no longer on record: nothing to answer.")
        return
    if user != escalation.destination.requester:
        await privately(NOT_YOURS.format(asker=escalation.destination.requester))
        return
    escalation, changed = await services.database.answer_feedback(
        escalation_id, int(round_), user, answer
    )
    if not changed:
        await privately(ALREADY_ANSWERED)
        return
    if origin.channel and origin.message_ts:
        text, blocks = feedback_answered(user, works=answer is Feedback.YES)
        await client.chat_update(
            channel=origin.channel, ts=origin.message_ts, text=text, blocks=blocks
        )
    if answer is Feedback.STUCK:
        await _reopened(services, client, escalation_id)


async def _reopened(services: BotServices, client: AsyncWebClient, escalation_id: str) -> None:
    escalation = await services.database.escalation(escalation_id)
    if escalation is None:
        return
    await start_clock(services, escalation)
    await refresh_triage(services, client, escalation.id)
    if escalation.triage_channel and escalation.triage_ts:
        await client.chat_postMessage(
            channel=escalation.triage_channel,
            thread_ts=escalation.triage_ts,
            reply_broadcast=True,
            text=reopened_text(escalation, await permalink_of(client, escalation.destination)),
        )


def register(app: AsyncApp) -> None:
    for action_id in ANSWERS:
        app.action(action_id)(feedback_button)
