"""A support agent's reply in a customer's thread: the escalation's first response.

Slack sends messages in channels the bot is in as `message.channels` / `message.groups` events.
A reply by a support agent (not the person who asked) in the thread of an escalation waiting
for its first response stops its clock: the response time is recorded, the reminders are
cancelled and the triage post shows it. Everything else is left to `handlers.messages`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.services import BotServices, SupportUnreadable, services_of
from handlers.conversation import installing_team
from handlers.escalation_timers import responded
from handlers.payload import text
from handlers.support import refresh_triage

logger = logging.getLogger(__name__)

CHANNEL_TYPES = ("channel", "group")


async def is_reply_in_channel_thread(event: dict[str, Any]) -> bool:
    """A person's new reply in a thread of a channel (not a DM, not an edit, not a bot)."""
    thread_ts = text(event, "thread_ts")
    return (
        event.get("channel_type") in CHANNEL_TYPES
        and not event.get("subtype")
        and not event.get("bot_id")
        and thread_ts is not None
        and thread_ts != text(event, "ts")
        and text(event, "user") is not None
    )


async def reply_in_thread(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A reply in a channel's thread: a first response, when it answers an escalation."""
    services = services_of(context)
    services.tasks.spawn(
        _first_response(
            services,
            client,
            str(event["channel"]),
            str(event["thread_ts"]),
            str(event["user"]),
            user_team=text(event, "user_team") or text(body, "team_id"),
            home_team=installing_team(context),
        ),
        name="first response",
    )


async def _first_response(
    services: BotServices,
    client: AsyncWebClient,
    channel: str,
    thread_ts: str,
    author: str,
    *,
    user_team: str | None,
    home_team: str | None,
) -> None:
    waiting = [
        escalation
        for escalation in await services.database.escalations_in_thread(channel, thread_ts)
        if escalation.responded_at is None and escalation.destination.requester != author
    ]
    if not waiting:
        return
    try:
        agent = await services.support.may_act(
            client, author, user_team=user_team, home_team=home_team
        )
    except SupportUnreadable as unreadable:
        logger.warning("a reply in an escalated thread not counted: %s", unreadable.error)
        return
    if not agent:
        return
    for escalation in waiting:
        answered, changed = await services.database.record_response(escalation.id, author)
        if changed:
            await responded(services, answered)
            await refresh_triage(services, client, answered.id)


def register(app: AsyncApp) -> None:
    app.event("message", matchers=[is_reply_in_channel_thread])(reply_in_thread)
