"""The leak guard's button: "Check it privately" (or "Check privately" when nothing is held).

The secret a warning is about waits in the vault, encrypted, for its author alone; the button
carries only its ID. A click takes it (once) and runs the check through the check service, the
answer in the bot's DM with the author. When nothing is held (no CREDENTIALS_KEY, used,
expired), the paste form opens instead, its answer going to the DM as well.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.posting import Recipient, tell_privately
from bot.slack.services import BotServices, services_of
from handlers.blocks.common import CLICK_AGAIN
from handlers.blocks.leak import CHECK_HELD_ACTION, PASTE_PRIVATELY_ACTION, private_check_started
from handlers.conversation import installing_team, open_check_modal, spawn_check_modal
from handlers.payload import clicked_value, interaction_origin, text

logger = logging.getLogger(__name__)


def _private_destination(body: dict[str, Any], context: AsyncBoltContext) -> Destination | None:
    """Where a private check's answer goes: the bot's DM with whoever clicked; where that is
    refused (someone of another organisation), ephemeral through the click's response URL.
    None when the click does not say who clicked."""
    origin = interaction_origin(body)
    if origin.user is None:
        logger.warning("a click on a leak warning without its user ignored")
        return None
    return Destination(
        channel=origin.user,
        thread_ts=None,
        requester=origin.user,
        response_url=origin.response_url,
        team=installing_team(context) or origin.team or origin.user_team or "",
        entry=EntryPoint.LEAK_WARNING,
        public=False,
    )


async def check_privately(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Check it privately": the held secret, checked, the answer in the author's DM. When it
    is no longer held (used, expired), the private form opens instead."""
    await ack()
    destination = _private_destination(body, context)
    if destination is None:
        return
    services = services_of(context)
    services.tasks.spawn(
        _check_held(services, client, destination, clicked_value(body), text(body, "trigger_id")),
        name="private check",
        on_failure=services.answers.failure_notice(_privately(destination)),
    )


async def _check_held(
    services: BotServices,
    client: AsyncWebClient,
    destination: Destination,
    hold_id: str | None,
    trigger_id: str | None,
) -> None:
    paste = await services.vault.take(hold_id, owner=destination.requester) if hold_id else None
    if paste is None:
        if trigger_id is None:
            await tell_privately(client, _privately(destination), CLICK_AGAIN)
            return
        await open_check_modal(client, trigger_id, destination, services.checker.warm)
        return
    await tell_privately(client, _privately(destination), private_check_started())
    await services.answers.check_and_answer(destination, paste)


async def paste_privately(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Check privately" (nothing held): the paste form; its answer goes to the DM."""
    await ack()
    destination = _private_destination(body, context)
    trigger_id = text(body, "trigger_id")
    if destination is None:
        return
    if trigger_id is None:
        await tell_privately(client, _privately(destination), CLICK_AGAIN)
        return
    spawn_check_modal(
        context,
        client,
        trigger_id,
        destination,
        name="private paste form",
        on_failure=services_of(context).answers.failure_notice(_privately(destination)),
    )


def _privately(destination: Destination) -> Recipient:
    """The author of a leaked secret, told only through their click's response URL."""
    return Recipient(destination.requester, response_url=destination.response_url)


def register(app: AsyncApp) -> None:
    app.action(CHECK_HELD_ACTION)(check_privately)
    app.action(PASTE_PRIVATELY_ACTION)(paste_privately)
