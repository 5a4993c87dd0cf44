"""The message shortcut "Check Ecwid connection": the way in from a support escalation thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import EntryPoint
from bot.slack.services import services_of
from handlers.conversation import destination_from_action, open_check_modal, tell_failure_at

CHECK_SHORTCUT = "check_ecwid_connection"


async def check_from_message(
    ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The paste modal; the answer goes to the thread of the message the shortcut was used on."""
    await ack()
    destination = destination_from_action(shortcut, context, entry=EntryPoint.SHORTCUT)
    services_of(context).tasks.spawn(
        open_check_modal(
            client, shortcut["trigger_id"], destination, services_of(context).checker.warm
        ),
        name="open modal from shortcut",
        on_failure=tell_failure_at(client, destination),
    )


def register(app: AsyncApp) -> None:
    app.shortcut(CHECK_SHORTCUT)(check_from_message)
