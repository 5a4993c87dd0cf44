"""Escalation to the support team: the modal, the triage post, and its buttons.

Every button on a triage post is for support agents only (`TRIAGE_ACTIONS`): anyone else who
can see the post gets a private "only the support team can do this", and nothing changes.
Each action changes the escalation in the database first (atomically, so two agents clicking
at once end in one state), then re-renders the triage post from what the database holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Escalation
from bot.destination import Destination, EntryPoint
from bot.engine.report import CheckReport
from bot.response_targets import Urgency
from bot.slack.posting import CHECKING, CONNECTED, PROBLEM, Recipient, tell_privately
from bot.slack.services import BotServices, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.reminders import feedback_question
from handlers.blocks.support import (
    CUSTOMER_REPLY_ACTION,
    ESCALATE_ACTION,
    ESCALATE_MODAL_CALLBACK,
    ESCALATE_WITHOUT_CHECK,
    ESCALATION_FORM_UNREADABLE,
    GOAL_BLOCK,
    GOAL_INPUT,
    GOAL_MISSING,
    NOTE_BLOCK,
    NOTE_INPUT,
    RERUN_ACTION,
    RESOLVE_ACTION,
    TAKE_ACTION,
    TRIAGE_WITHOUT_ESCALATION,
    URGENCY_BLOCK,
    URGENCY_INPUT,
    customer_reply_text,
    escalate_modal,
    paste_again_message,
    read_escalation_metadata,
    rerun_note,
    resolved_line,
    support_asked_line,
    taken_line,
    triage_details_message,
    triage_message,
)
from handlers.conversation import installing_team
from handlers.escalation_timers import responded, start_clock, stop_clock
from handlers.payload import (
    Origin,
    Submission,
    clicked_action_id,
    clicked_value,
    interaction_origin,
    tell_origin,
)

logger = logging.getLogger(__name__)

NOT_AN_AGENT = "Only the support team can do this."
# Asking Slack whether the clicker is an agent must leave time to open the modal (a trigger_id
# lives three seconds): past this, the store owner's wording is used.
AGENT_LOOKUP_S = 1.0
# One lock per escalation keeps this process's re-renders of a triage post in order.
_render_locks: dict[str, asyncio.Lock] = {}


def customer_thread(escalation: Escalation) -> Destination:
    return escalation.destination.started_by(EntryPoint.RERUN)


async def refresh_triage(services: BotServices, client: AsyncWebClient, escalation_id: str) -> None:
    """Re-render the triage post from the database until what it shows is current.

    Another replica may change the escalation while this one renders: the version tells.
    """
    async with _render_locks.setdefault(escalation_id, asyncio.Lock()):
        escalation = await services.database.escalation(escalation_id)
        for _ in range(3):
            if escalation is None or not escalation.triage_channel or not escalation.triage_ts:
                return
            check = await services.database.check_by_id(escalation.check_id)
            if check is None:
                return
            permalink = await permalink_of(client, escalation.destination)
            text, blocks = triage_message(
                escalation, check.report, permalink, services.database.clock()
            )
            await client.chat_update(
                channel=escalation.triage_channel,
                ts=escalation.triage_ts,
                text=text,
                blocks=blocks,
            )
            latest = await services.database.escalation(escalation_id)
            if latest is None or latest.version == escalation.version:
                return
            escalation = latest


# The escalation modal: opened from a result, submitted by whoever asked.


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


# The triage post's buttons: for support agents only.

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
    app.action(ESCALATE_ACTION)(open_escalation)
    app.view(ESCALATE_MODAL_CALLBACK)(escalate)
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


def triage_thread(escalation: Escalation) -> Destination | None:
    """Where the support team talks about `escalation`: its triage thread (None before the
    triage post is made), to `post` in."""
    if not escalation.triage_channel or not escalation.triage_ts:
        return None
    return Destination(
        channel=escalation.triage_channel,
        thread_ts=escalation.triage_ts,
        requester=escalation.destination.requester,
        team=escalation.destination.team,
        entry=EntryPoint.RERUN,
    )


async def permalink_of(client: AsyncWebClient, thread: Destination) -> str | None:
    """A link to the thread `thread` (None when it has no thread or Slack gives none)."""
    if thread.thread_ts is None:
        return None
    try:
        answer = await client.chat_getPermalink(channel=thread.channel, message_ts=thread.thread_ts)
    except SlackApiError as error:
        logger.info("no permalink for the customer's thread: %s", error.response.get("error"))
        return None
    link = answer.get("permalink")
    return str(link) if link else None
