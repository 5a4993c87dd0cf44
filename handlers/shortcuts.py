"""The message shortcut "Check Ecwid connection": the way in from a support escalation thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import EntryPoint
from handlers.conversation import destination_from_action, spawn_check_modal

CHECK_SHORTCUT = "check_ecwid_connection"


async def check_from_message(
    ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The paste modal; the answer goes to the thread of the message the shortcut was used on."""
    await ack()
    destination = destination_from_action(shortcut, context, entry=EntryPoint.SHORTCUT)
    spawn_check_modal(
        context, client, shortcut["trigger_id"], destination, name="open modal from shortcut"
    )


def register(app: AsyncApp) -> None:
    app.shortcut(CHECK_SHORTCUT)(check_from_message)
