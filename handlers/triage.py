"""The triage post of an escalation and the two threads around it: re-rendering the post from
what the database holds (in order, until it shows the latest version), a link to the customer's
thread to show in it, and where to post to the support team (the triage thread) or to the
customer (their thread).
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.db.escalations import Escalation
from bot.destination import Destination, EntryPoint
from bot.slack.posting import permalink
from bot.slack.services import BotServices
from handlers.blocks.support import triage_message

logger = logging.getLogger(__name__)

# One lock per escalation keeps this process's re-renders of a triage post in order.
_render_locks: dict[str, asyncio.Lock] = {}


async def refresh_triage(services: BotServices, client: AsyncWebClient, escalation_id: str) -> None:
    """Re-render the triage post from the database until what it shows is current.

    Another replica may change the escalation while this one renders: the version tells.
    """
    async with _render_locks.setdefault(escalation_id, asyncio.Lock()):
        escalation = await services.database.escalation(escalation_id)
        if escalation is None or not escalation.triage_channel or not escalation.triage_ts:
            return
        # Neither the check nor the customer's thread changes between versions: read once.
        check = await services.database.check_by_id(escalation.check_id)
        if check is None:
            return
        link = await permalink_of(client, escalation.destination)
        for _ in range(3):
            text, blocks = triage_message(escalation, check.report, link, services.database.clock())
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


async def permalink_of(client: AsyncWebClient, thread: Destination) -> str | None:
    """A link to the thread `thread` (None when it has no thread or Slack gives none)."""
    if thread.thread_ts is None:
        return None
    return await permalink(client, thread.channel, thread.thread_ts)


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


def customer_thread(escalation: Escalation) -> Destination:
    """Where the bot talks to the customer about `escalation`: their own thread."""
    return escalation.destination.started_by(EntryPoint.RERUN)
