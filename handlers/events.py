"""Mentions of the bot: the guide and its button, in that thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.dedup import first_time_for_all
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from handlers.conversation import installing_team, post_guide
from handlers.payload import event_origin, once_keys, text

logger = logging.getLogger(__name__)


async def mentioned(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """`@ecwid-connect` in a thread (or a channel): the guide there, once per message."""
    services = services_of(context)
    if event.get("edited"):
        # Editing a message that mentions the bot sends `app_mention` again, with `edited` and
        # a new event_id: the first one was answered already.
        logger.debug("edited mention in %s ignored", event.get("channel"))
        return
    origin = event_origin(body, event)
    if origin.channel is None:
        logger.warning("app_mention without a channel ignored: nowhere to answer")
        return
    destination = Destination(
        channel=origin.channel,
        thread_ts=origin.thread_ts,
        requester=origin.user or "",
        team=installing_team(context) or origin.team or "",
        entry=EntryPoint.MENTION,
    )
    keys = once_keys(
        event_id=text(body, "event_id"),
        message=f"mention:{origin.channel}:{ts}" if (ts := text(event, "ts")) else None,
    )
    services.tasks.spawn(
        _guide_once(services, destination, keys),
        name="guide on mention",
        on_failure=services.answers.failure_notice(Recipient.of(destination)),
    )


async def _guide_once(services: BotServices, destination: Destination, keys: list[str]) -> None:
    # Each event, and each message, answered once. (After the ack: with a database these are
    # writes.)
    if await first_time_for_all(services.seen, keys):
        await post_guide(services.answers, destination)


def register(app: AsyncApp) -> None:
    app.event("app_mention")(mentioned)
