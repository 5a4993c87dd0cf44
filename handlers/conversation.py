"""Talking in a thread: posting where the bot may, falling back where it may not, reacting, and
running a check whose answer lands in the thread. Listeners call these after they have acked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.destination import Destination, EntryPoint
from bot.engine.diagnosis import StepName, StepStatus
from bot.engine.intake import Paste
from bot.engine.report import CheckReport, Step
from bot.slack.services import BotServices
from handlers.blocks.check import (
    check_modal,
    checking_root_message,
    failure_message,
    failure_view,
    guide_message,
    result_message,
    result_view,
)
from handlers.blocks.common import Blocks

logger = logging.getLogger(__name__)

# Where chat.postMessage cannot reach (private channel, DM between people), the slash command's
# or the click's response_url still can.
FALLBACK_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
CHECKING, CONNECTED, PROBLEM = "eyes", "white_check_mark", "warning"
VIEW_UPDATE_AFTER_ACK_S = 0.5


def destination_from_action(
    body: dict[str, Any], entry: EntryPoint = EntryPoint.MODAL
) -> Destination:
    """Where to answer a click on a bot message or a message shortcut: that message's thread."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    thread_ts = (
        container.get("thread_ts")
        or message.get("thread_ts")
        or container.get("message_ts")
        or message.get("ts")
    )
    if container.get("is_ephemeral"):
        thread_ts = None  # an ephemeral message has no thread to reply in
    return Destination(
        channel=str(channel),
        thread_ts=thread_ts,
        requester=str(body["user"]["id"]),
        response_url=body.get("response_url"),
        team=str((body.get("team") or {}).get("id") or body["user"].get("team_id") or ""),
        entry=entry,
    )


async def open_check_modal(
    client: AsyncWebClient,
    trigger_id: str,
    destination: Destination,
    warm: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Open the paste modal at once: a trigger_id lives three seconds and works once.

    `warm` (the checker's) opens the connections a check needs while the person pastes."""
    opening = client.views_open(trigger_id=trigger_id, view=check_modal(destination))
    await (asyncio.gather(opening, warm()) if warm is not None else opening)


async def post(
    client: AsyncWebClient, destination: Destination, text: str, blocks: Blocks | None = None
) -> str | None:
    """Post in the destination's thread; returns the new message's ts (None via response_url)."""
    try:
        response = await client.chat_postMessage(
            channel=destination.channel,
            thread_ts=destination.thread_ts,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as error:
        if error.response.get("error") not in FALLBACK_ERRORS or not destination.response_url:
            raise
        logger.info("cannot post in %s; answering through response_url", destination.channel)
        await _post_via_response_url(destination, text, blocks)
        return None
    ts = response.get("ts")
    return str(ts) if ts else None


async def _post_via_response_url(
    destination: Destination, text: str, blocks: Blocks | None
) -> None:
    assert destination.response_url is not None
    response = await AsyncWebhookClient(destination.response_url).send(
        text=text,
        blocks=blocks,
        response_type="in_channel" if destination.public else "ephemeral",
        replace_original=False,
    )
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered HTTP {response.status_code}")


async def tell_privately(
    client: AsyncWebClient,
    user: str,
    text: str,
    *,
    channel: str | None = None,
    response_url: str | None = None,
) -> None:
    """A message only `user` sees: through the click's `response_url` (leaving the clicked
    message as it is), else ephemeral in `channel`, else in the bot's DM with them."""
    if response_url:
        await AsyncWebhookClient(response_url).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    elif channel:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    else:  # no conversation at hand (the App Home): the bot's DM with the user
        await client.chat_postMessage(channel=user, text=text)


def tell_failure(
    client: AsyncWebClient,
    user: str,
    *,
    channel: str | None = None,
    response_url: str | None = None,
) -> Callable[[str], Awaitable[None]]:
    """What `TaskSupervisor.spawn` calls when background work fails: tell `user`, privately,
    with the reference that finds the log lines."""

    async def tell(reference: str) -> None:
        text = failure_message(reference)[0]
        await tell_privately(client, user, text, channel=channel, response_url=response_url)

    return tell


def tell_failure_at(
    client: AsyncWebClient, destination: Destination
) -> Callable[[str], Awaitable[None]]:
    """`tell_failure` for the user and conversation of `destination`."""
    return tell_failure(
        client,
        destination.requester,
        channel=destination.channel,
        response_url=destination.response_url,
    )


async def post_guide(client: AsyncWebClient, destination: Destination) -> None:
    """The guide with its button, as the thread root (or inside the destination's thread)."""
    text, blocks = guide_message()
    await post(client, destination, text, blocks)


async def react(client: AsyncWebClient, destination: Destination, add: str, *remove: str) -> None:
    """Show a check's state on the thread root; reactions are decoration and never fail a check."""
    if destination.thread_ts is None:
        return
    calls = [(client.reactions_add, add)] + [(client.reactions_remove, name) for name in remove]
    for call, name in calls:
        try:
            await call(channel=destination.channel, timestamp=destination.thread_ts, name=name)
        except SlackApiError as error:
            logger.debug("reaction %s not changed: %s", name, error.response.get("error"))
        except Exception:
            logger.warning("reaction %s not changed", name, exc_info=True)


async def start_thread_and_check(
    services: BotServices, client: AsyncWebClient, destination: Destination, paste: Paste
) -> None:
    """`/ecwid-connect <paste>`: a thread root without the paste, then the check's answer in it."""
    text, blocks = checking_root_message(destination.requester)
    try:
        root_ts = await post(client, destination, text, blocks)
    except Exception:
        await report_failure(client, destination, None, "could not start the thread")
        return
    if root_ts is not None:
        destination = destination.in_thread(root_ts)
    await check_and_answer(services, client, destination, paste)


def pending_ladder() -> list[Step]:
    return [Step(name=name, status=StepStatus.PENDING) for name in StepName]


async def check_and_answer(
    services: BotServices,
    client: AsyncWebClient,
    destination: Destination,
    paste: Paste,
    view_id: str | None = None,
) -> CheckReport | None:
    """Run the check, then answer in the thread (and in the modal, if it is still open).

    Whatever fails here, the user is told in the thread, with a reference to the log (and None
    is returned).
    """
    acked_at = asyncio.get_running_loop().time()
    try:
        await react(client, destination, CHECKING)
        checked = await services.checks.check(paste, destination)
        report = checked.report
        escalable = checked.check_id if services.support.configured else None
        text, blocks = result_message(report, destination, check_id=escalable)
        await post(client, destination, text, blocks)
    except Exception:
        await report_failure(client, destination, view_id, "answering a check failed")
        return None
    # The answer is in the thread: what follows is decoration, and never a reason to say
    # something went wrong.
    await react(client, destination, CONNECTED if report.ok else PROBLEM, CHECKING)
    if view_id is not None:
        await _after_ack(acked_at)
        try:
            await _update_view(client, view_id, result_view(report))
        except Exception:
            logger.exception("the modal could not show the result (it is in the thread)")
    return report


async def _after_ack(acked_at: float) -> None:
    """Let Slack apply the ack's "Checking…" view before replacing it.

    Bolt sends the ack up to 10 ms after `ack()`; Slack applies it when it arrives. A fast check's
    `views.update` could overtake it and then be overwritten by "Checking…".
    """
    wait = acked_at + VIEW_UPDATE_AFTER_ACK_S - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)


async def _update_view(client: AsyncWebClient, view_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as error:
        if error.response.get("error") != "not_found":  # the user closed the modal: fine
            raise


async def report_failure(
    client: AsyncWebClient, destination: Destination, view_id: str | None, what: str
) -> None:
    reference = uuid.uuid4().hex[:10]
    logger.exception("%s in %s (reference %s)", what, destination.channel, reference)
    text, blocks = failure_message(reference)
    try:
        await post(client, destination, text, blocks)
        await react(client, destination, PROBLEM, CHECKING)
        if view_id is not None:
            await _update_view(client, view_id, failure_view(reference))
    except Exception:
        logger.exception("could not tell the user about reference %s either", reference)
