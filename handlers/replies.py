"""A support agent's reply in a customer's thread: the escalation's first response.

Slack sends messages in channels the bot is in as `message.channels` / `message.groups` events;
`handlers.leaks` listens to them and hands each person's message on to `offer_reply`. A reply
by a support agent (not the person who asked) in the thread of an escalation waiting for its
first response stops its clock: the response time is recorded, the reminders are cancelled and
the triage post shows it. A reply in any other thread costs one indexed read.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.services import BotServices
from bot.slack.support_team import SupportUnreadable
from handlers.escalation_timers import responded
from handlers.payload import text
from handlers.triage import refresh_triage

logger = logging.getLogger(__name__)


def offer_reply(
    services: BotServices,
    client: AsyncWebClient,
    body: dict[str, Any],
    message: dict[str, Any],
    channel: str | None,
    *,
    home_team: str | None,
) -> None:
    """A person's message in a channel (`handlers.leaks` hands each one on): when it is a
    reply in a thread, whether it answers an escalation is looked at in the background."""
    thread_ts, author = text(message, "thread_ts"), text(message, "user")
    if channel is None or thread_ts is None or author is None or thread_ts == text(message, "ts"):
        return
    services.tasks.spawn(
        _first_response(
            services,
            client,
            channel,
            thread_ts,
            author,
            user_team=text(message, "user_team") or text(body, "team_id"),
            home_team=home_team,
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
