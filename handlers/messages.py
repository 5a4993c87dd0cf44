"""Direct messages to the bot (its Messages tab): a pasted Personal collection URL, or a Store
ID and token, is checked there; anything else gets the guide. The answer goes in a thread under
the person's message.

Slack sends these only as `message.im` events (never as `app_mention`). Bolt matches every
`message` event to this listener; all but a person's new message in a DM are ignored: other
conversations, subtypes (edits, deletions, joins), bots (the bot's own answers come back as
events too), and repeats (Slack's retries, a message delivered twice).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.engine.errors import PasteError
from bot.engine.intake import CollectionPaste, Paste, read_paste
from bot.slack.dedup import first_time_for_all
from bot.slack.posting import Recipient
from bot.slack.services import BotServices, services_of
from handlers.blocks.direct import dm_guide_message, dm_paste_note
from handlers.conversation import installing_team
from handlers.payload import event_origin, once_keys, text

logger = logging.getLogger(__name__)

DM_CHANNEL_TYPE = "im"
SUBSCRIPTION = "message.im"
# Text that was meant as a paste (a link, a token, a collection file name), so that what is
# wrong with it is worth saying; other words get the guide alone.
_ATTEMPTED_PASTE = re.compile(
    r"://|\.postman_collection|\.amazonaws\.com|(?<![A-Za-z0-9])(?:secret|public|secure)_\w",
    re.IGNORECASE,
)


async def direct_message(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A person wrote to the bot in its DM: a paste is checked, anything else gets the guide."""
    origin = event_origin(body, event)
    if (
        event.get("channel_type") != DM_CHANNEL_TYPE
        or event.get("subtype")
        or event.get("bot_id")
        or origin.user is None
        or origin.user == context.bot_user_id
    ):
        return
    if origin.channel is None:
        logger.warning("a direct message without a channel ignored: nowhere to answer")
        return
    services = services_of(context)
    # Slack retries an event it thinks was not delivered: answer each event, and each message,
    # once. (Asked after the ack: with a database these are writes.)
    ts = text(event, "ts")
    message = text(event, "client_msg_id") or (f"{origin.channel}:{ts}" if ts else None)
    keys = once_keys(event_id=text(body, "event_id"), message=f"dm:{message}" if message else None)
    destination = Destination(
        channel=origin.channel,
        thread_ts=origin.thread_ts,
        requester=origin.user,
        team=installing_team(context) or origin.team or "",
        entry=EntryPoint.DM,
    )
    written = text(event, "text") or ""
    failed = services.answers.failure_notice(Recipient.of(destination))
    try:
        paste = read_paste(written, services.settings.collection_hosts)
    except PasteError as problem:
        detail = problem.detail if _ATTEMPTED_PASTE.search(written) else None
        services.tasks.spawn(
            _guide(services, keys, destination, detail),
            name="guide in DM",
            on_failure=failed,
        )
        return
    services.tasks.spawn(
        _check(services, keys, destination, paste),
        name="check from DM",
        on_failure=failed,
    )


async def _guide(
    services: BotServices,
    keys: list[str],
    destination: Destination,
    problem: str | None,
) -> None:
    if not await first_time_for_all(services.seen, keys):
        return
    text, blocks = dm_guide_message(problem)
    await services.answers.post(destination, text, blocks)


async def _check(
    services: BotServices,
    keys: list[str],
    destination: Destination,
    paste: Paste,
) -> None:
    report = await services.answers.check_and_answer(
        destination, paste, unique=first_time_for_all(services.seen, keys)
    )
    if report is not None:
        note = dm_paste_note(url=isinstance(paste, CollectionPaste))
        await services.answers.post(destination, note)


def register(app: AsyncApp) -> None:
    # Every message event the leak guard's listener (registered first) did not take, so that
    # none is left unanswered (Bolt would answer 404); all but a person's DM are ignored here.
    app.event("message")(direct_message)
