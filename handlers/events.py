"""Mentions of the bot: the guide and its button, in that thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.services import services_of
from handlers.conversation import installing_team, post_guide, tell_failure

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
    # Slack retries an event it thinks was not delivered: answer each event, and each
    # message, once.
    event_id = body.get("event_id")
    if event_id and not await services.seen.first_time(f"event:{event_id}"):
        return
    if not await services.seen.first_time(f"mention:{event['channel']}:{event.get('ts')}"):
        return
    destination = Destination(
        channel=event["channel"],
        thread_ts=event.get("thread_ts") or event.get("ts"),
        requester=event.get("user", ""),
        team=installing_team(context) or body.get("team_id") or "",
        entry=EntryPoint.MENTION,
    )
    services.tasks.spawn(
        post_guide(client, destination),
        name="guide on mention",
        on_failure=tell_failure(client, destination.requester, channel=destination.channel),
    )


def register(app: AsyncApp) -> None:
    app.event("app_mention")(mentioned)
