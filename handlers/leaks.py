"""The leak guard: a secret pasted in a channel the bot is in is never left unremarked.

Slack sends every message of the public and private channels and group DMs the bot is a member
of (`message.channels`, `message.groups`, `message.mpim`). Each is read for a Personal
collection URL, an Ecwid token or a store ID with its token (`bot.engine.leaks`); nothing of any
message is kept. An ordinary message ends there: no Slack call, no database write. A secret gets
its author one private warning (ephemeral, in that thread), once per message whatever Slack
retries or the author edits, with a button to check that store privately (answered in
`handlers.private_check`), and, in a Slack Connect channel or from someone outside the support
team, a short note in the support channel.

A reply in a thread is handed on to `handlers.replies`: an agent's reply in an escalated
customer's thread is that escalation's first response.

Direct messages to the bot are a way to ask for a check (`handlers.messages`), not a leak.
A mention of the bot in a channel comes twice (`app_mention` and the message itself): the
mention posts the guide (`handlers.events`) and the message is the one that may warn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.intake import Paste
from bot.engine.leaks import SecretKind, spot_secrets
from bot.slack.posting import permalink, post_without_previews
from bot.slack.services import BotServices, describe, services_of
from bot.slack.support_team import SupportUnreadable
from handlers.blocks.leak import (
    leak_warning,
    support_leak_note,
)
from handlers.conversation import installing_team
from handlers.payload import field, text
from handlers.replies import offer_reply

logger = logging.getLogger(__name__)

# The channel types read, and the subscription that brings each.
SUBSCRIPTIONS = {"channel": "message.channels", "group": "message.groups", "mpim": "message.mpim"}
EDITED = "message_changed"
# Subtypes that are still a person's own words: a reply also sent to the channel, a message with
# a file, a /me message. Everything else (joins, bots, deletions, topics) is not read.
WRITTEN_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})


@dataclass(frozen=True, slots=True)
class Leak:
    """A message holding a secret: where, by whom, what kinds, and what can be checked."""

    channel: str
    channel_type: str
    ts: str
    thread_ts: str | None
    author: str
    kinds: tuple[SecretKind, ...]
    paste: Paste | None
    shared_externally: bool | None  # None: the event did not say

    @property
    def key(self) -> str:
        """One warning per message: its retries and edits share this."""
        return f"leak:{self.channel}:{self.ts}"


async def in_a_channel(event: dict[str, Any]) -> bool:
    """The Bolt matcher: a message event from a channel, private channel or group DM."""
    return event.get("channel_type") in SUBSCRIPTIONS


def _written(event: dict[str, Any], bot_user_id: str | None) -> dict[str, Any] | None:
    """The person's message an event carries (an edit's new version), or None: bots' messages,
    the bot's own, and events that are not someone writing."""
    message = field(event, "message") if text(event, "subtype") == EDITED else event
    if not isinstance(message, dict):
        return None
    subtype = field(message, "subtype")
    user = text(message, "user")
    if (
        (subtype is not None and subtype not in WRITTEN_SUBTYPES)
        or field(message, "bot_id")
        or user is None
        or user == bot_user_id
    ):
        return None
    return message


async def channel_message(
    body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """A message in a channel the bot is in: a pasted secret gets its author warned."""
    message = _written(event, context.bot_user_id)
    if message is None:
        return
    services = services_of(context)
    if text(event, "subtype") != EDITED:
        offer_reply(
            services,
            client,
            body,
            message,
            text(event, "channel"),
            home_team=installing_team(context),
        )
    hosts = services.settings.collection_hosts
    spotted = spot_secrets(text(message, "text") or "", hosts)
    if spotted is None:
        return
    edited = text(event, "subtype") == EDITED
    previous = text(event, "previous_message", "text") if edited else None
    if previous is not None and spot_secrets(previous, hosts) is not None:
        # Already there before the edit (an unfurl added, a typo fixed): warned about then.
        return
    channel = text(event, "channel")
    ts = text(message, "ts") or text(event, "previous_message", "ts")
    author = text(message, "user")
    if channel is None or ts is None or author is None:
        logger.warning("a message holding a secret, without its channel or ts: nobody to warn")
        return
    external = field(body, "is_ext_shared_channel")
    leak = Leak(
        channel=channel,
        channel_type=text(event, "channel_type") or "",
        ts=ts,
        thread_ts=text(message, "thread_ts"),
        author=author,
        kinds=spotted.kinds,
        paste=spotted.paste,
        shared_externally=external if isinstance(external, bool) else None,
    )
    services.tasks.spawn(guard(services, client, leak), name="leak guard")


async def guard(services: BotServices, client: AsyncWebClient, leak: Leak) -> None:
    """Warn the author once per message, then tell support where it matters."""
    if not await services.warned.first_time(leak.key):
        return
    for kind in leak.kinds:
        services.metrics.secrets_spotted.labels(kind.value, leak.channel_type).inc()
    logger.info(
        "%s pasted in %s (%s) by %s",
        " and ".join(kind.value for kind in leak.kinds),
        leak.channel,
        leak.channel_type,
        leak.author,
    )
    hold_id = await _hold(services, leak)
    shared_externally = await _shared_externally(client, leak)
    text, blocks = leak_warning(
        leak.kinds,
        shared_externally=shared_externally,
        hold_id=hold_id,
        checkable=leak.paste is not None,
    )
    outcome = await _warn(client, leak, text, blocks)
    services.metrics.leak_warnings.labels(outcome).inc()
    await _tell_support(services, client, leak, shared_externally=shared_externally)


async def _hold(services: BotServices, leak: Leak) -> str | None:
    """Keep what was pasted for the author's private check; None when there is nothing to keep
    or the database would not take it: the warning goes all the same, its button then opens
    the private form."""
    if leak.paste is None:
        return None
    try:
        return await services.vault.hold(
            leak.paste,
            owner=leak.author,
            ttl=timedelta(minutes=services.settings.leak_hold_min),
        )
    except Exception as error:
        # Only the type: a database error's text quotes the statement's parameters.
        logger.warning(
            "could not hold a secret pasted in %s for a private check (%s): the warning offers "
            "the form",
            leak.channel,
            type(error).__name__,
        )
        return None


async def _shared_externally(client: AsyncWebClient, leak: Leak) -> bool:
    """Whether other organisations are in the channel: as the event said, else as Slack says."""
    if leak.shared_externally is not None:
        return leak.shared_externally
    try:
        answer = await client.conversations_info(channel=leak.channel)
    except SlackApiError as error:
        logger.info("could not tell whether %s is shared: %s", leak.channel, describe(error))
        return False
    channel = answer.get("channel") or {}
    return bool(channel.get("is_ext_shared"))


async def _warn(client: AsyncWebClient, leak: Leak, text: str, blocks: list[Any]) -> str:
    """The warning, ephemeral in the message's thread; else in the bot's DM with the author.
    How it went: `ephemeral`, `dm` or `undelivered`."""
    try:
        await client.chat_postEphemeral(
            channel=leak.channel,
            user=leak.author,
            thread_ts=leak.thread_ts,
            text=text,
            blocks=blocks,
        )
        return "ephemeral"
    except SlackApiError as error:
        logger.info("no ephemeral warning in %s: %s", leak.channel, describe(error))
    try:
        await post_without_previews(client, leak.author, text, blocks)
        return "dm"
    except SlackApiError as error:
        logger.warning(
            "%s pasted a secret in %s and could not be warned: %s",
            leak.author,
            leak.channel,
            describe(error),
        )
        return "undelivered"


async def _tell_support(
    services: BotServices, client: AsyncWebClient, leak: Leak, *, shared_externally: bool
) -> None:
    """A note in the support channel when the channel is shared with another organisation or
    the author is not in the support team; never for a paste in the support channel itself."""
    support = services.support
    if support.channel is None or leak.channel == support.channel:
        return
    if not shared_externally:
        try:
            if await support.is_agent(client, leak.author):
                return
        except SupportUnreadable as unreadable:
            logger.info("support note sent without knowing the team: %s", unreadable.error)
    text, blocks = support_leak_note(
        leak.author,
        leak.channel,
        await permalink(client, leak.channel, leak.ts),
        datetime.fromtimestamp(float(leak.ts), UTC),
        leak.kinds,
        shared_externally=shared_externally,
    )
    try:
        await post_without_previews(client, support.channel, text, blocks)
    except SlackApiError as error:
        logger.warning("the support channel was not told of a pasted secret: %s", describe(error))
        return
    services.metrics.leak_warnings.labels("support_note").inc()


def register(app: AsyncApp) -> None:
    app.event("message", matchers=[in_a_channel])(channel_message)
