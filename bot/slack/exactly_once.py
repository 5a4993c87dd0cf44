"""Posting a message exactly once: every post says in its Slack message metadata what it is, and
after a failure that leaves unknown whether Slack applied it, the bot looks for it before
posting again.

`chat.postMessage` has no idempotency key; message metadata (`event_type`, `event_payload`) is
the one way to mark a message so that it can be found again (`conversations.replies` or
`conversations.history` with `include_all_metadata`). An answer is marked with its check ID
(`MessageMark.answer`), any other post with an ID of its own (`MessageMark.fresh`): never a
secret. Reading needs the history scopes (`channels:history`, `groups:history`,
`mpim:history`, `im:history`); where the bot cannot read the conversation (a scope missing,
not a member, Slack rate-limiting the reads past the delivery's patience), it posts anyway and
logs why: a message twice beats none.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.delivery import (
    DELIVERY_PATIENCE_S,
    PACER,
    ChannelPacer,
    DeliveryExpired,
    deliver,
)

logger = logging.getLogger(__name__)

ANSWER_EVENT = "ecwid_connect_answer"
MESSAGE_EVENT = "ecwid_connect_message"
# How much of a conversation is searched: a thread to its end (threads here are short), a
# channel's newest top-level messages only (the post being looked for is minutes old).
PAGE_SIZE = 200
THREAD_PAGES = 10
CHANNEL_PAGES = 2
# The longest a search may take when the delivery still has more patience than that.
LOOKUP_PATIENCE_S = 60.0


@dataclass(frozen=True, slots=True)
class MessageMark:
    """What a message the bot posts says about itself in its metadata: `event_type`, and one
    `field` of `event_payload` with its `value`."""

    event_type: str
    field: str
    value: str
    # The journal entry an answer belongs to: the same for a check run again after its process
    # died, whose check ID is new. Either ID finds the message.
    journal_id: str | None = None

    @classmethod
    def answer(cls, check_id: str, journal_id: str | None = None) -> MessageMark:
        """The mark of the answer to check `check_id` (journaled as `journal_id`, when known):
        the same for every delivery of it, and for a re-run's answer, by the journal ID."""
        return cls(ANSWER_EVENT, "check_id", check_id, journal_id)

    @classmethod
    def fresh(cls) -> MessageMark:
        """A mark of its own for a message that has no ID in the domain (a guide, a root)."""
        return cls(MESSAGE_EVENT, "message_id", uuid.uuid4().hex)

    @property
    def metadata(self) -> dict[str, Any]:
        """`chat.postMessage`'s `metadata` argument."""
        payload = {self.field: self.value}
        if self.journal_id is not None:
            payload["journal_id"] = self.journal_id
        return {"event_type": self.event_type, "event_payload": payload}

    def on(self, message: Mapping[str, Any]) -> bool:
        """Whether `message` (as `conversations.replies`/`history` return it) carries this mark."""
        metadata = message.get("metadata")
        if not isinstance(metadata, Mapping) or metadata.get("event_type") != self.event_type:
            return False
        payload = metadata.get("event_payload")
        if not isinstance(payload, Mapping):
            return False
        if self.journal_id is not None and payload.get("journal_id") == self.journal_id:
            return True
        return payload.get(self.field) == self.value


async def post_once(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    mark: MessageMark,
    look_first: bool = False,
    patience_s: float = DELIVERY_PATIENCE_S,
    pacer: ChannelPacer = PACER,
    **message: Any,
) -> str:
    """Post `message` (chat.postMessage's other arguments) in `channel` (in `thread_ts`'s
    thread), marked with `mark`, through `deliver`; the ts of the message, posted now or found
    from an attempt whose failure left it unknown. `look_first`: an earlier delivery may have
    posted it already (it ended without knowing), so look before the first attempt too."""

    async def attempt() -> str:
        response = await client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, metadata=mark.metadata, **message
        )
        return str(response["ts"])

    unreadable: list[str] = []  # why the conversation cannot be read, once it is known

    async def find(patience_left_s: float) -> str | None:
        if unreadable:
            return None  # asking again would get the same refusal
        return await find_posted(
            client,
            channel,
            thread_ts,
            mark,
            patience_s=min(patience_left_s, LOOKUP_PATIENCE_S),
            refused=unreadable,
        )

    return await deliver(
        attempt,
        channel,
        patience_s=patience_s,
        pacer=pacer,
        find_applied=find,
        look_first=look_first,
    )


async def find_posted(
    client: AsyncWebClient,
    channel: str,
    thread_ts: str | None,
    mark: MessageMark,
    *,
    patience_s: float = LOOKUP_PATIENCE_S,
    refused: list[str] | None = None,
) -> str | None:
    """The ts of the message marked `mark` in `thread_ts`'s thread (or among the newest
    top-level messages of `channel`); None when it is not there, or when the conversation
    cannot be read (logged: the caller posts again). Slack's refusal to let the bot read it
    for good (a scope missing, not a member) is added to `refused`."""
    if thread_ts is not None:
        method, pages = "conversations.replies", THREAD_PAGES

        def read(cursor: str | None) -> Awaitable[Any]:
            return client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=PAGE_SIZE,
                cursor=cursor,
            )

    else:
        method, pages = "conversations.history", CHANNEL_PAGES

        def read(cursor: str | None) -> Awaitable[Any]:
            return client.conversations_history(
                channel=channel, include_all_metadata=True, limit=PAGE_SIZE, cursor=cursor
            )

    why: str
    try:
        return await deliver(
            lambda: _search(read, mark, pages),
            f"{channel} history",
            what=method,
            patience_s=max(patience_s, 0.0),
        )
    except DeliveryExpired:
        why = "Slack kept refusing the reads"
    except SlackApiError as error:
        # missing_scope (an app installed before the history scopes), not_in_channel,
        # channel_not_found: the conversation cannot be read.
        why = str(error.response.get("error") or f"HTTP {error.response.status_code}")
        if refused is not None:
            refused.append(why)
    logger.warning(
        "could not look in %s for a message that may have been posted already (%s: %s); "
        "posting it again, it may appear twice",
        channel,
        method,
        why,
    )
    return None


async def _search(
    read: Callable[[str | None], Awaitable[Any]], mark: MessageMark, pages: int
) -> str | None:
    cursor: str | None = None
    for _ in range(pages):
        page = await read(cursor)
        for message in page.get("messages") or ():
            if isinstance(message, Mapping) and mark.on(message):
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            break
    return None
