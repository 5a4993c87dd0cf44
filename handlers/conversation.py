"""What several listeners share: the installing workspace, the paste modal, the guide.

Everything after that – journaling, checking, posting, recording – is `services.answers`
(`bot.slack.answers`), below the listeners.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination
from bot.slack.answers import AnswerService, FailureNotice
from bot.slack.posting import Recipient
from bot.slack.services import services_of
from handlers.blocks.check import check_modal, guide_message


def installing_team(context: AsyncBoltContext) -> str | None:
    """The workspace that installed the bot, as `auth.test` told Bolt. Not the payload's
    `team`: in a Slack Connect channel that is the acting user's organisation."""
    authorized = context.authorize_result
    return authorized.team_id if authorized is not None else None


async def open_check_modal(
    client: AsyncWebClient,
    trigger_id: str,
    destination: Destination,
    warm: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Open the paste modal at once: a trigger_id lives three seconds and works once.

    `warm` (the checker's) opens the connections a check needs while the person pastes."""
    opening = client.views_open(trigger_id=trigger_id, view=check_modal(destination))
    await (asyncio.gather(opening, warm()) if warm is not None else opening)


def spawn_check_modal(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    trigger_id: str,
    destination: Destination,
    *,
    name: str,
    on_failure: FailureNotice | None = None,
) -> None:
    """After the ack: the paste modal for `destination`, and the checker's connections warmed;
    a failure is told to the requester (in the conversation, unless `on_failure` says how)."""
    services = services_of(context)
    services.tasks.spawn(
        open_check_modal(client, trigger_id, destination, services.checker.warm),
        name=name,
        on_failure=on_failure or services.answers.failure_notice(Recipient.of(destination)),
    )


async def post_guide(answers: AnswerService, destination: Destination) -> None:
    """The guide with its button, as the thread root (or inside the destination's thread)."""
    text, blocks = guide_message()
    await answers.post(destination, text, blocks)
