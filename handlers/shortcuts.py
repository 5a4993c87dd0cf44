"""The message shortcut "Check Ecwid connection": the way in from a support escalation thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import EntryPoint
from handlers.blocks.common import CLICK_AGAIN
from handlers.conversation import spawn_check_modal
from handlers.payload import interaction_origin, tell_origin

CHECK_SHORTCUT = "check_ecwid_connection"


async def check_from_message(
    ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The paste modal; the answer goes to the thread of the message the shortcut was used on."""
    await ack()
    origin = interaction_origin(shortcut)
    destination = origin.destination(context, EntryPoint.SHORTCUT)
    if destination is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    spawn_check_modal(
        context, client, origin.trigger_id, destination, name="open modal from shortcut"
    )


def register(app: AsyncApp) -> None:
    app.shortcut(CHECK_SHORTCUT)(check_from_message)
