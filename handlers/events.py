"""Mentions of the bot: the guide and its button, in that thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.services import services_of
from handlers.conversation import post_guide, tell_failure


async def mentioned(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """`@ecwid-connect` in a thread (or a channel): the guide there, once per event."""
    services = services_of(context)
    # Slack retries an event it thinks was not delivered: answer each event once.
    event_id = body.get("event_id")
    if event_id and not await services.seen.first_time(f"event:{event_id}"):
        return
    destination = Destination(
        channel=event["channel"],
        thread_ts=event.get("thread_ts") or event.get("ts"),
        requester=event.get("user", ""),
        team=body.get("team_id") or "",
        entry=EntryPoint.MENTION,
    )
    services.tasks.spawn(
        post_guide(client, destination),
        name="guide on mention",
        on_failure=tell_failure(client, destination.requester, channel=destination.channel),
    )


def register(app: AsyncApp) -> None:
    app.event("app_mention")(mentioned)
