"""Buttons on the bot's messages: open the paste modal, check again."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.services import services_of
from handlers.blocks.check import (
    CHECK_AGAIN_ACTION,
    OPEN_CHECK_MODAL_ACTION,
    PLAYGROUND_LINK_ACTION,
)
from handlers.conversation import destination_from_action, open_check_modal, tell_failure_at


async def open_modal(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Paste the URL" and "Check again": the paste modal, answering in that message's thread."""
    await ack()
    destination = destination_from_action(body, context)
    services_of(context).tasks.spawn(
        open_check_modal(
            client, body["trigger_id"], destination, services_of(context).checker.warm
        ),
        name="open modal",
        on_failure=tell_failure_at(client, destination),
    )


async def link_clicked(ack: AsyncAck) -> None:
    """A link button still sends an action; Slack wants it acknowledged."""
    await ack()


def register(app: AsyncApp) -> None:
    app.action(OPEN_CHECK_MODAL_ACTION)(open_modal)
    app.action(CHECK_AGAIN_ACTION)(open_modal)
    app.action(PLAYGROUND_LINK_ACTION)(link_clicked)
