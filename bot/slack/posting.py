"""Posting in a conversation: where the bot may, falling back where it may not.

A thread message goes out through `bot.slack.delivery` (Slack's rate limits and bad minutes
waited out); when Slack refuses the post itself, the answer still reaches the requester through
the response URL or privately, saying why. Reactions and modal updates are decoration: they are
retried for less long and never fail what they decorate.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.destination import Destination
from bot.slack.delivery import deliver
from bot.slack.exactly_once import MessageMark, post_once
from bot.slack.layouts import Blocks

logger = logging.getLogger(__name__)

# chat.postMessage's documented refusals that an answer can get round. Where the bot is not in
# the conversation (private channel, DM between people), the response_url may still answer in
# public; where the channel or workspace forbids the post itself, only a private answer gets
# through. Without a response_url, the requester alone is told, saying why.
PUBLIC_FALLBACK_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
RESTRICTION_ERRORS = frozenset(
    {
        "restricted_action",  # a workspace preference keeps the bot from posting
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",  # a top-level post in a threads-only channel
        "ekm_access_denied",  # administrators suspended posting (Enterprise Key Management)
    }
)
FALLBACK_ERRORS = PUBLIC_FALLBACK_ERRORS | RESTRICTION_ERRORS
# The reactions on a thread root that show a check's state.
CHECKING, CONNECTED, PROBLEM = "eyes", "white_check_mark", "warning"
# Reactions and modal updates are retried through Slack's bad moments too, for less long.
DECORATION_PATIENCE_S = 60.0

PrivateCopy = Callable[[str, str, str, Blocks | None], tuple[str, Blocks | None]]
"""`AnswerLayouts.private_copy`: a refused message for the requester alone, saying why."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person to tell something privately, and where: the click's `response_url`, else
    ephemeral in `channel`, else the bot's DM with them."""

    user: str
    channel: str | None = None
    response_url: str | None = None

    @classmethod
    def of(cls, destination: Destination) -> Recipient:
        """Whoever asked for the check at `destination`, in that conversation."""
        return cls(destination.requester, destination.channel, destination.response_url)


async def tell_privately(client: AsyncWebClient, recipient: Recipient, text: str) -> None:
    """A message only `recipient.user` sees (a clicked message is left as it is)."""
    if recipient.response_url:
        await AsyncWebhookClient(recipient.response_url).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    elif recipient.channel:
        await client.chat_postEphemeral(channel=recipient.channel, user=recipient.user, text=text)
    else:  # no conversation at hand (the App Home): the bot's DM with the user
        await client.chat_postMessage(channel=recipient.user, text=text)


async def post_without_previews(
    client: AsyncWebClient, channel: str, text: str, blocks: Blocks | None = None
) -> None:
    """One `chat.postMessage` (a user ID: the bot's DM with them), no link previews, none of
    `Poster.post`'s patience or fallbacks: for messages whose refusal the caller handles."""
    await client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
    )


class Poster:
    """Posts, reacts and updates views through `client`; refused posts reach the requester in
    the words of `private_copy`."""

    def __init__(self, client: AsyncWebClient, private_copy: PrivateCopy) -> None:
        self.client = client
        self._private_copy = private_copy

    def with_client(self, client: AsyncWebClient) -> Poster:
        """The same posting through another client (another token)."""
        return self if client is self.client else Poster(client, self._private_copy)

    async def post(
        self,
        destination: Destination,
        text: str,
        blocks: Blocks | None = None,
        *,
        mark: MessageMark | None = None,
        look_first: bool = False,
    ) -> str | None:
        """Post in the destination's thread; returns the new message's ts (None via response_url).

        Rate limits, server and connection errors are waited out for minutes, paced per channel
        (`bot.slack.delivery`); past that, `DeliveryExpired`. The message goes in once: it carries
        `mark` (an answer's check ID; else a mark of its own) and, after a failure that leaves
        unknown whether it was posted, is looked for before it is posted again (`look_first`:
        from the start, as for a redelivery; `bot.slack.exactly_once`).
        """
        try:
            ts: str | None = await post_once(
                self.client,
                channel=destination.channel,
                thread_ts=destination.thread_ts,
                mark=mark or MessageMark.fresh(),
                look_first=look_first,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            refusal = str(error.response.get("error") or "")
            if refusal not in FALLBACK_ERRORS:
                raise
            if destination.response_url:
                logger.info(
                    "%s in %s; answering through response_url", refusal, destination.channel
                )
                public = destination.public and refusal in PUBLIC_FALLBACK_ERRORS
                await _post_via_response_url(destination, text, blocks, public=public)
            else:
                await self._post_privately(destination, refusal, text, blocks)
            return None
        return ts

    async def _post_privately(
        self, destination: Destination, refusal: str, text: str, blocks: Blocks | None
    ) -> None:
        """No response_url to fall back on: the message to the requester alone, saying why –
        ephemeral in the conversation (in its thread), else in the bot's DM with them."""
        logger.info("%s in %s; answering the requester privately", refusal, destination.channel)
        private_text, private_blocks = self._private_copy(
            refusal, destination.channel, text, blocks
        )
        try:
            await self.client.chat_postEphemeral(
                channel=destination.channel,
                user=destination.requester,
                thread_ts=destination.thread_ts,
                text=private_text,
                blocks=private_blocks,
            )
            return
        except SlackApiError as error:
            refused = error.response.get("error")
            logger.info("no ephemeral in %s either: %s", destination.channel, refused)
        try:
            await post_without_previews(
                self.client, destination.requester, private_text, private_blocks
            )
        except SlackApiError as error:
            # Nowhere left to say it: logged, without a traceback, for the operator.
            logger.warning(
                "could not tell %s privately either: %s",
                destination.requester,
                error.response.get("error"),
            )

    async def react(self, destination: Destination, add: str, *remove: str) -> None:
        """Show a check's state on the thread root; reactions are decoration and never fail a
        check."""
        if destination.thread_ts is None:
            return
        client = self.client
        calls = [(client.reactions_add, add)] + [(client.reactions_remove, name) for name in remove]
        for call, name in calls:
            try:
                await deliver(
                    functools.partial(
                        call,
                        channel=destination.channel,
                        timestamp=destination.thread_ts,
                        name=name,
                    ),
                    # Reactions have their own limits, not the channel's message pace.
                    f"{destination.channel} reactions",
                    what=f"reaction {name}",
                    patience_s=DECORATION_PATIENCE_S,
                )
            except SlackApiError as error:
                logger.debug("reaction %s not changed: %s", name, error.response.get("error"))
            except Exception:
                logger.warning("reaction %s not changed", name, exc_info=True)

    async def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        """Replace an open modal's view; a modal the user closed is left closed."""
        try:
            await deliver(
                functools.partial(self.client.views_update, view_id=view_id, view=view),
                f"view {view_id}",
                what="views.update",
                patience_s=DECORATION_PATIENCE_S,
            )
        except SlackApiError as error:
            if error.response.get("error") != "not_found":  # the user closed the modal: fine
                raise


async def _post_via_response_url(
    destination: Destination, text: str, blocks: Blocks | None, *, public: bool
) -> None:
    assert destination.response_url is not None
    # In a thread, Slack publishes a response_url message in that thread when told which.
    body: dict[str, Any] = {
        "text": text,
        "blocks": blocks,
        "response_type": "in_channel" if public else "ephemeral",
        "replace_original": False,
        "thread_ts": destination.thread_ts,
    }
    response = await AsyncWebhookClient(destination.response_url).send_dict(
        {key: value for key, value in body.items() if value is not None}
    )
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered HTTP {response.status_code}")


async def permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """A link to the message `ts` in `channel` (`chat.getPermalink`); None, logged, when Slack
    gives none."""
    try:
        answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as error:
        logger.info("no permalink for %s in %s: %s", ts, channel, error.response.get("error"))
        return None
    link = answer.get("permalink")
    return str(link) if link else None
