"""`/ecwid-connect`: the guide as a thread root, help, or a paste checked at once."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import EntryPoint
from bot.engine.errors import PasteError
from bot.engine.intake import read_paste
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.check import usage_text
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.support import history_message
from handlers.conversation import post_guide
from handlers.payload import command_origin
from handlers.payload import text as payload_text

COMMAND = "/ecwid-connect"
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
HISTORY = re.compile(r"history(?:\s+#?(?P<store_id>\S+))?\s*", re.IGNORECASE)


async def ecwid_connect(
    ack: AsyncAck,
    command: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    """`/ecwid-connect [help | history <store ID> | <paste>]`."""
    services = services_of(context)
    text = (payload_text(command, "text") or "").strip()
    if text.lower() in HELP_WORDS:
        await ack(text=usage_text(payload_text(command, "command") or COMMAND))
        return
    # Slash commands cannot run in threads: the bot's own message becomes the thread root.
    destination = command_origin(command).destination(context, EntryPoint.COMMAND)
    if destination is None:
        # No user or channel to answer in; the person who typed it still sees the ack's text.
        await ack(text=CLICK_AGAIN)
        return
    user = destination.requester
    failed = services.answers.failure_notice(Recipient(user, response_url=destination.response_url))
    if history := HISTORY.fullmatch(text):
        if not (history["store_id"] or "").isdigit() or len(history["store_id"]) > 15:
            await ack(text=f"Which store? `{COMMAND} history <store ID>`, e.g. `history 1003`.")
            return
        await ack()
        services.tasks.spawn(
            _history(services, user, int(history["store_id"]), client, respond),
            name="history",
            on_failure=failed,
        )
        return
    if not text:
        await ack()
        services.tasks.spawn(
            post_guide(services.answers, destination), name="post guide", on_failure=failed
        )
        return
    try:
        paste = read_paste(text, services.settings.collection_hosts)
    except PasteError as problem:
        # Answered privately at once; what was typed is never repeated.
        await ack(text=f":warning: {problem.detail}\nType `{COMMAND}` for the step-by-step guide.")
        return
    await ack()
    private = dataclasses.replace(destination, public=False)
    services.tasks.spawn(
        services.answers.check_in_new_thread(private, paste),
        name="check from command",
        on_failure=failed,
    )


async def _history(
    services: BotServices,
    user_id: str,
    store_id: int,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    support = services.support
    try:
        agent = support.configured and await support.is_agent(client, user_id)
    except SupportUnreadable as unreadable:
        await respond(text=f":warning: {unreadable}", response_type="ephemeral")
        return
    if not agent:
        where = f" (members of <#{support.channel}>)" if support.channel else ""
        await respond(
            text=f"Store history is for the support team{where}.", response_type="ephemeral"
        )
        return
    checks = await services.database.checks_for_store(store_id)
    escalations = await services.database.escalations_for_store(store_id)
    follow_ups = await services.follow_ups.for_store(store_id)
    watches = await services.watches.for_store(store_id)
    text, blocks = history_message(
        store_id, checks, escalations, follow_ups, watches, now=services.database.clock()
    )
    await respond(text=text, blocks=blocks, response_type="ephemeral")


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(ecwid_connect)
