"""The triage post's buttons, for support agents only (`TRIAGE_ACTIONS`: Take it, Resolved, Re-run
check, the customer's reply): anyone else who can see the post gets a private "only the support
team can do this", and nothing changes. Each action changes the escalation in the database first
(atomically, so two agents clicking at once end in one state), tells the customer's thread, then
re-renders the triage post from what the database holds (`handlers.triage`). An agent's own
check of a customer's message is followed by the reply for that customer, said to the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Escalation
from bot.destination import Destination
from bot.engine.report import CheckReport
from bot.slack.posting import CHECKING, CONNECTED, PROBLEM, Recipient, tell_privately
from bot.slack.services import BotServices, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.reminders import feedback_question
from handlers.blocks.support import (
    CUSTOMER_REPLY_ACTION,
    RERUN_ACTION,
    RESOLVE_ACTION,
    TAKE_ACTION,
    TRIAGE_WITHOUT_ESCALATION,
    customer_reply_text,
    paste_again_message,
    rerun_note,
    resolved_line,
    taken_line,
)
from handlers.conversation import installing_team
from handlers.escalation_timers import responded, stop_clock
from handlers.payload import (
    Origin,
    clicked_action_id,
    clicked_value,
    interaction_origin,
    tell_origin,
)
from handlers.triage import customer_thread, refresh_triage

logger = logging.getLogger(__name__)

NOT_AN_AGENT = "Only the support team can do this."

TriageWork = Callable[[BotServices, str, str, AsyncWebClient], Awaitable[None]]
"""What a triage button does, given the escalation ID and the agent who clicked."""


async def take_it(
    services: BotServices, escalation_id: str, agent: str, client: AsyncWebClient
) -> None:
    escalation, changed = await services.database.take(escalation_id, agent)
    if not changed:
        await _tell_agent(client, escalation, agent, _already(escalation))
    else:
        await responded(services, escalation)
    await _after_change(services, client, escalation, changed, agent, taken_line, CHECKING)


async def resolve(
    services: BotServices, escalation_id: str, agent: str, client: AsyncWebClient
) -> None:
    escalation, changed = await services.database.resolve(escalation_id, agent)
    if changed:
        await stop_clock(services, escalation)
    await _after_change(
        services, client, escalation, changed, agent, resolved_line, CONNECTED, CHECKING, PROBLEM
    )
    if changed:
        text, blocks = feedback_question(escalation)
        await services.answers.post(customer_thread(escalation), text, blocks)


async def _after_change(
    services: BotServices,
    client: AsyncWebClient,
    escalation: Escalation,
    changed: bool,
    agent: str,
    line: Callable[[str], str],
    reaction: str,
    *stale_reactions: str,
) -> None:
    """Tell the customer's thread what the agent did, then bring the triage post up to date."""
    if changed:
        customer = customer_thread(escalation)
        await services.answers.react(customer, reaction, *stale_reactions)
        await services.answers.post(customer, line(agent))
    await refresh_triage(services, client, escalation.id)


async def rerun(
    services: BotServices, escalation_id: str, agent: str, client: AsyncWebClient
) -> None:
    escalation = await services.database.escalation(escalation_id)
    if escalation is None:
        return
    customer = customer_thread(escalation)
    paste = await services.recorder.kept_paste(escalation.check_id)
    if paste is None:
        text, blocks = paste_again_message()
        await services.answers.post(customer, text, blocks)
        await _tell_agent(
            client,
            escalation,
            agent,
            "No credentials are kept for this check (no CREDENTIALS_KEY, or they expired): "
            "the customer was asked to paste the URL again.",
        )
        return
    await services.answers.post(customer, rerun_note(agent))
    report = await services.answers.check_and_answer(customer, paste)
    if report is not None and escalation.triage_channel and escalation.triage_ts:
        await client.chat_postMessage(
            channel=escalation.triage_channel,
            thread_ts=escalation.triage_ts,
            text=f"<@{agent}> re-ran the check: `{report.diagnosis}` — {report.title}",
        )


async def reply_to_customer(
    services: BotServices, escalation_id: str, agent: str, client: AsyncWebClient
) -> None:
    """The customer's message for the escalated check, told privately to the agent."""
    escalation = await services.database.escalation(escalation_id)
    if escalation is None:
        return
    check = await services.database.check_by_id(escalation.check_id)
    if check is None:
        return
    await _tell_agent(client, escalation, agent, customer_reply_text(check.report))


async def offer_customer_reply(
    services: BotServices, client: AsyncWebClient, destination: Destination, report: CheckReport
) -> None:
    """After an agent's check from a customer's message (the shortcut): the reply for that
    customer, said to the agent alone, in the thread. Anyone else who used the shortcut gets
    nothing more than the answer."""
    agent = destination.requester
    if not await services.support.may_act(client, agent, user_team=None, home_team=None):
        return
    try:
        await client.chat_postEphemeral(
            channel=destination.channel,
            user=agent,
            thread_ts=destination.thread_ts,
            text=customer_reply_text(report),
        )
    except SlackApiError as error:
        logger.info("no customer reply offered to %s: %s", agent, error.response.get("error"))


TRIAGE_ACTIONS: dict[str, TriageWork] = {
    TAKE_ACTION: take_it,
    RESOLVE_ACTION: resolve,
    RERUN_ACTION: rerun,
    CUSTOMER_REPLY_ACTION: reply_to_customer,
}
"""Every button of a triage post; `triage_button` lets only support agents use them."""


async def triage_button(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A click on a triage post's button: the action, if the clicker is a support agent."""
    await ack()
    origin = interaction_origin(body)
    escalation_id = clicked_value(body)
    clicked = clicked_action_id(body) or ""
    work = TRIAGE_ACTIONS.get(clicked)
    if escalation_id is None or work is None:
        tell_origin(context, client, origin, TRIAGE_WITHOUT_ESCALATION)
        return
    if origin.user is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    services = services_of(context)
    services.tasks.spawn(
        _as_agent(
            services, work, escalation_id, origin, origin.user, client, installing_team(context)
        ),
        name=clicked,
        on_failure=services.answers.failure_notice(
            Recipient(origin.user, origin.channel, origin.response_url)
        ),
    )


async def _as_agent(
    services: BotServices,
    work: TriageWork,
    escalation_id: str,
    origin: Origin,
    agent: str,
    client: AsyncWebClient,
    home_team: str | None,
) -> None:
    try:
        allowed = await services.support.may_act(
            client, agent, user_team=origin.user_team, home_team=home_team
        )
        refusal = NOT_AN_AGENT
    except SupportUnreadable as unreadable:
        allowed, refusal = False, f":warning: {unreadable}"
    if not allowed:
        logger.info("triage action refused to %s: not a support agent", agent)
        await tell_privately(client, Recipient(agent, origin.channel, origin.response_url), refusal)
        return
    await work(services, escalation_id, agent, client)


def register(app: AsyncApp) -> None:
    for action_id in TRIAGE_ACTIONS:
        app.action(action_id)(triage_button)


def _already(escalation: Escalation) -> str:
    if escalation.resolved_by:
        return f"<@{escalation.resolved_by}> already resolved this escalation."
    return f"<@{escalation.taken_by}> already took this escalation."


async def _tell_agent(
    client: AsyncWebClient, escalation: Escalation, agent: str, text: str
) -> None:
    if escalation.triage_channel is None:
        return
    try:
        await client.chat_postEphemeral(channel=escalation.triage_channel, user=agent, text=text)
    except SlackApiError as error:
        logger.warning("could not tell %s: %s", agent, error.response.get("error"))
