"""Buttons on the bot's messages: open the paste modal, check again."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.check import (
    CHECK_AGAIN_ACTION,
    OPEN_CHECK_MODAL_ACTION,
    PLAYGROUND_LINK_ACTION,
)
from handlers.blocks.common import CLICK_AGAIN
from handlers.conversation import spawn_check_modal
from handlers.payload import interaction_origin, tell_origin


async def open_modal(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Paste the URL" and "Check again": the paste modal, answering in that message's thread."""
    await ack()
    origin = interaction_origin(body)
    destination = origin.destination(context)
    if destination is None or origin.trigger_id is None:
        tell_origin(context, client, origin, CLICK_AGAIN)
        return
    spawn_check_modal(context, client, origin.trigger_id, destination, name="open modal")


async def link_clicked(ack: AsyncAck) -> None:
    """A link button still sends an action; Slack wants it acknowledged."""
    await ack()


def register(app: AsyncApp) -> None:
    app.action(OPEN_CHECK_MODAL_ACTION)(open_modal)
    app.action(CHECK_AGAIN_ACTION)(open_modal)
    app.action(PLAYGROUND_LINK_ACTION)(link_clicked)
