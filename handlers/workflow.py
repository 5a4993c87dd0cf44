"""The Workflow Builder step "Check Ecwid connection": `function_executed`, and its paste button.

Slack runs the step with the person (`user_id`) and, optionally, a channel (`channel_id`). The
guide goes to that person – in the channel when the bot may post there, else in their DM with the
bot – with a button that opens the usual paste modal: the secret is pasted there, never in a
workflow field, so it never enters the workflow's variables or Slack's run history. The check's
`Destination.step` carries the execution through the modal and the journal; when the check ends,
`bot.slack.steps` completes the step with its outputs. An execution that cannot start ends with
`functions.completeError` and words a workflow builder can act on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.delivery import deliver
from bot.slack.exactly_once import MESSAGE_EVENT, MessageMark, post_once
from bot.slack.posting import FALLBACK_ERRORS, Recipient
from bot.slack.services import BotServices, services_of
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.workflow import (
    BOT_PERSON,
    NO_PERSON,
    OUT_OF_DATE,
    STEP_PASTE_ACTION,
    StepButton,
    internal_error,
    no_such_person,
    not_for_you,
    step_guide_message,
    unreachable,
)
from handlers.conversation import installing_team, spawn_check_modal
from handlers.payload import clicked_value, field, interaction_origin, tell_origin, text

logger = logging.getLogger(__name__)

STEP_CALLBACK = "check_ecwid_connection"
PERSON_INPUT = "user_id"
CHANNEL_INPUT = "channel_id"


@dataclasses.dataclass(frozen=True, slots=True)
class StepRequest:
    """One execution as `function_executed` asks for it."""

    execution_id: str
    workflow_execution_id: str | None
    person: str
    channel: str | None
    team: str


def step_request(event: dict[str, Any], team: str) -> StepRequest | None:
    """The execution and its inputs, blanks read as missing; None without an execution."""
    execution_id = text(event, "function_execution_id")
    if execution_id is None:
        return None
    channel = (text(event, "inputs", CHANNEL_INPUT) or "").strip()
    return StepRequest(
        execution_id=execution_id,
        workflow_execution_id=text(event, "workflow_execution_id"),
        person=(text(event, "inputs", PERSON_INPUT) or "").strip(),
        channel=channel or None,
        team=team,
    )


def _team(body: dict[str, Any], context: AsyncBoltContext) -> str:
    """The installing workspace; on an organisation-wide install, the organisation."""
    return (
        installing_team(context)
        or text(body, "team_id")
        or text(body, "team", "id")
        or text(body, "enterprise_id")
        or text(body, "enterprise", "id")
        or ""
    )


async def step_executed(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """`function_executed` for the step (Bolt acknowledges it): start it after the ack."""
    services = services_of(context)
    request = step_request(event, _team(body, context))
    if request is None:  # nothing to complete or fail: Bolt routes on it, Slack always sends it
        logger.warning("function_executed without a function_execution_id ignored")
        return
    services.tasks.spawn(
        start_step(services, client, request),
        name="start workflow step",
        on_failure=_fail_with_reference(services, client, request.execution_id),
    )


def _fail_with_reference(
    services: BotServices, client: AsyncWebClient, execution_id: str
) -> Callable[[str], Awaitable[None]]:
    async def fail(reference: str) -> None:
        await services.steps.fail(client, execution_id, internal_error(reference))

    return fail


async def start_step(services: BotServices, client: AsyncWebClient, request: StepRequest) -> None:
    """Send the guide to the step's person, once per execution; end it with an error when
    there is nobody to send it to, or nowhere."""
    steps = services.steps
    started = await steps.executions.start(
        request.execution_id,
        team=request.team,
        user_id=request.person,
        channel_id=request.channel,
        workflow_execution_id=request.workflow_execution_id,
    )
    if not started:
        logger.info("workflow step %s is already under way: Slack's retry", request.execution_id)
        return
    problem = NO_PERSON if not request.person else await _person_problem(client, request.person)
    if problem is not None:
        await steps.fail(client, request.execution_id, problem)
        return
    button = StepButton(request.execution_id, request.person)
    member = True
    if request.channel is not None:
        # A guide in a channel the person is not in would never reach them.
        member = await _in_channel(client, request.channel, request.person)
    if request.channel is not None and member:
        try:
            where = await _post_guide(client, request.channel, button)
        except SlackApiError as error:
            refused = str(error.response.get("error") or "")
            if refused not in FALLBACK_ERRORS:
                raise
            logger.info("workflow step guide refused in %s: %s", request.channel, refused)
        else:
            await steps.executions.guide_posted(request.execution_id, *where)
            return
    try:
        # A user ID as the channel: the DM with the bot.
        where = await _post_guide(
            client, request.person, button, channel=request.channel, member=member
        )
    except SlackApiError as error:
        refusal = str(error.response.get("error") or "")
        await steps.fail(
            client, request.execution_id, unreachable(request.person, request.channel, refusal)
        )
        return
    await steps.executions.guide_posted(request.execution_id, *where)


async def _post_guide(
    client: AsyncWebClient,
    where: str,
    button: StepButton,
    *,
    channel: str | None = None,
    member: bool = True,
) -> tuple[str, str | None]:
    """Post the step's guide in `where` (the step's channel, or the person's ID for their DM,
    saying why not in `channel`), once: marked with the execution, looked for after a failure
    that leaves unknown whether Slack posted it; where it landed (channel ID, ts)."""
    text, blocks = step_guide_message(button, channel=channel, member=member)
    if where.startswith(("U", "W")):
        # The DM's own ID: the one its messages can be read back from.
        opened = await deliver(
            lambda: client.conversations_open(users=where), where, what="conversations.open"
        )
        where = str(opened["channel"]["id"])
    ts = await post_once(
        client,
        channel=where,
        thread_ts=None,
        mark=MessageMark(MESSAGE_EVENT, "message_id", f"step-guide:{button.step}"),
        text=text,
        blocks=blocks,
        unfurl_links=False,
        unfurl_media=False,
    )
    return where, ts


# How many pages of members (1,000 each) are read to find the person; past that, the guide is
# posted in the channel all the same.
MEMBER_PAGES = 5


async def _in_channel(client: AsyncWebClient, channel: str, person: str) -> bool:
    """Whether `person` is in `channel` (`conversations.members`); True when Slack will not
    say (the post then tells), or the channel is too large to read through."""
    cursor = None
    for _ in range(MEMBER_PAGES):
        try:
            page = await client.conversations_members(channel=channel, cursor=cursor, limit=1000)
        except SlackApiError as error:
            logger.info("members of %s unreadable: %s", channel, error.response.get("error"))
            return True
        if person in (page.get("members") or ()):
            return True
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return False
    return True


async def _person_problem(client: AsyncWebClient, user_id: str) -> str | None:
    """Why `user_id` cannot be the step's person (`users.info`), or None."""
    try:
        answer = await client.users_info(user=user_id)
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "user_not_visible"):
            return no_such_person(user_id)
        raise
    user = answer.get("user") or {}
    if user.get("deleted"):
        return no_such_person(user_id)
    if user.get("is_bot"):
        return BOT_PERSON
    return None


async def paste_for_step(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The step's "Paste the URL" (on its guide, or on the App Home): the paste modal, for the
    step's person only; the check answers in the guide's thread and completes the step."""
    await ack()
    origin = interaction_origin(body)
    button = StepButton.from_value(clicked_value(body))
    if origin.user is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    user = origin.user
    if button is None or user != button.person:
        refusal = OUT_OF_DATE if button is None else not_for_you(button.person)
        tell_origin(context, client, origin, refusal)
        return
    # Slack's own context of the execution first (a click on what the step posted).
    execution_id = text(body, "function_data", "execution_id") or button.step
    destination = origin.destination(context, EntryPoint.WORKFLOW)
    if field(body, "container", "type") == "view" or destination is None:  # the App Home
        destination = Destination(
            channel=button.channel or user,
            thread_ts=button.ts,
            requester=user,
            team=_team(body, context),
            entry=EntryPoint.WORKFLOW,
        )
    spawn_check_modal(
        context,
        client,
        origin.trigger_id,
        dataclasses.replace(destination, step=execution_id),
        name="open modal for workflow step",
        on_failure=services_of(context).answers.failure_notice(Recipient(user, origin.channel)),
    )


async def remember_execution_token(
    context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
) -> None:
    """Every request inside an execution (its `function_executed`, a click on what it posted,
    the form opened from there) carries Slack's token for it: kept in memory, so that calls
    made for the execution with the bot's own client (the answer, the completion) use it."""
    if context.function_execution_id and context.function_bot_access_token:
        services_of(context).steps.remember_token(
            context.function_execution_id, context.function_bot_access_token
        )
    await next()


def register(app: AsyncApp) -> None:
    app.use(remember_execution_token)
    app.function(STEP_CALLBACK)(step_executed)
    app.action(STEP_PASTE_ACTION)(paste_for_step)
