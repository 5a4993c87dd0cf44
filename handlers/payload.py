"""Reading what Slack sent, defensively: the one way every listener reads a payload.

A field may be missing, null, of another type or renamed: a form opened before an upgrade and
submitted after it, a button from an earlier version of a message, an org-wide install whose
`team` is null. Read through these, such a field is `None` (or, for a form, absent), and the
listener answers what it can – an inline error on a block the form has, a private note, or a
log line where no one is waiting – instead of raising `KeyError` into a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.destination import Destination, EntryPoint
from bot.slack.posting import Recipient, tell_privately
from bot.slack.services import services_of
from handlers.blocks.common import FORM_OUT_OF_DATE
from handlers.conversation import installing_team

logger = logging.getLogger(__name__)


def field(data: object, *path: str | int) -> object:
    """`data[path[0]][path[1]]…`, or None where a step is missing or not a dict (list)."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def text(data: object, *path: str | int) -> str | None:
    """The non-empty string at `path`, else None (ids and timestamps are strings in Slack)."""
    value = field(data, *path)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a payload, and from where; each is None when the payload does not say.

    `team` is the payload's workspace (null on org-wide installs); `user_team` the acting user's
    organisation, which differs in a Slack Connect channel.
    """

    user: str | None
    channel: str | None = None
    thread_ts: str | None = None
    team: str | None = None
    user_team: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    message_ts: str | None = None
    """The clicked message (a click on a message)."""

    def recipient(self, user: str) -> Recipient:
        """`user`, told privately where this interaction happened."""
        return Recipient(user, self.channel, self.response_url)

    def destination(
        self, context: AsyncBoltContext, entry: EntryPoint = EntryPoint.MODAL
    ) -> Destination | None:
        """Where to answer: this conversation and thread, for this person; recorded under the
        workspace that installed the bot. None without a user or a conversation to answer."""
        if self.user is None or self.channel is None:
            return None
        return Destination(
            channel=self.channel,
            thread_ts=self.thread_ts,
            requester=self.user,
            response_url=self.response_url,
            team=installing_team(context) or self.team or self.user_team or "",
            entry=entry,
        )


def interaction_origin(body: dict[str, Any]) -> Origin:
    """A click (`block_actions`), a shortcut (`message_action`) or a view submission.

    The thread is that of the clicked message: an ephemeral message has no thread of its own,
    and inside a thread Slack says which in `container.thread_ts`.
    """
    container = field(body, "container")
    if field(container, "is_ephemeral") is True:
        thread_ts = text(container, "thread_ts")
    else:
        thread_ts = (
            text(container, "thread_ts")
            or text(body, "message", "thread_ts")
            or text(container, "message_ts")
            or text(body, "message", "ts")
            or text(body, "message_ts")
        )
    return Origin(
        user=text(body, "user", "id"),
        channel=text(body, "channel", "id") or text(container, "channel_id"),
        thread_ts=thread_ts,
        team=text(body, "team", "id"),
        user_team=text(body, "user", "team_id"),
        response_url=text(body, "response_url"),
        trigger_id=text(body, "trigger_id"),
        message_ts=text(container, "message_ts") or text(body, "message", "ts"),
    )


def event_origin(body: dict[str, Any], event: dict[str, Any]) -> Origin:
    """An Events API event: its thread is the one it was written in, or the message itself."""
    return Origin(
        user=text(event, "user"),
        channel=text(event, "channel"),
        thread_ts=text(event, "thread_ts") or text(event, "ts"),
        team=text(body, "team_id"),
    )


def command_origin(command: dict[str, Any]) -> Origin:
    """A slash command (form fields; slash commands cannot run in threads)."""
    return Origin(
        user=text(command, "user_id"),
        channel=text(command, "channel_id"),
        team=text(command, "team_id"),
        response_url=text(command, "response_url"),
        trigger_id=text(command, "trigger_id"),
    )


def once_keys(*, event_id: str | None, message: str | None) -> list[str]:
    """What makes an event answered once: its ID (Slack's retries) and its message's (the same
    message delivered twice); a payload without them has nothing to tell repeats apart by."""
    return [key for key in (event_id and f"event:{event_id}", message) if key]


def clicked_value(body: dict[str, Any]) -> str | None:
    """The clicked button's `value` (Bolt routes on `action_id`, so that one is there)."""
    return text(body, "actions", 0, "value")


def clicked_action_id(body: dict[str, Any]) -> str | None:
    return text(body, "actions", 0, "action_id")


class Form:
    """A submitted view: its inputs (`view.state.values`) and the input blocks it was opened
    with (`view.blocks`), the only ones an inline error may name."""

    def __init__(self, view: object) -> None:
        values = field(view, "state", "values")
        self._values: dict[str, Any] = values if isinstance(values, dict) else {}
        blocks = field(view, "blocks")
        self._inputs = [
            str(block["block_id"])
            for block in (blocks if isinstance(blocks, list) else [])
            if isinstance(block, dict)
            and block.get("type") == "input"
            and isinstance(block.get("block_id"), str)
        ]
        self.view_id = text(view, "id")
        self.metadata = text(view, "private_metadata")

    def has(self, block_id: str, action_id: str) -> bool:
        """Whether the submission holds the input `action_id` of `block_id` at all."""
        return isinstance(field(self._values, block_id, action_id), dict)

    def typed(self, block_id: str, action_id: str) -> str:
        """What was typed into a text input; empty when nothing was (or it is not there)."""
        return text(self._values, block_id, action_id, "value") or ""

    def selected(self, block_id: str, action_id: str) -> str | None:
        """The value of the option chosen in a select menu, if any."""
        return text(self._values, block_id, action_id, "selected_option", "value")

    def picked_date(self, block_id: str, action_id: str) -> str | None:
        """The date chosen in a date picker (`YYYY-MM-DD`), if any."""
        return text(self._values, block_id, action_id, "selected_date")

    def error_block(self, *preferred: str) -> str | None:
        """The block an inline error may go under: the first of `preferred` the form was
        opened with, else its first input; None when it has none (then say it privately)."""
        for block_id in (*preferred, *self._inputs):
            if block_id in self._inputs:
                return block_id
        return None


def tell_origin(
    context: AsyncBoltContext, client: AsyncWebClient, origin: Origin, message: str
) -> None:
    """After the ack: tell the person who sent a payload, privately, why nothing more happens –
    through the payload's `response_url`, else ephemeral in its channel, else in the bot's DM.
    With no one to tell, a log line."""
    if origin.user is None and origin.response_url is None:
        logger.warning("a Slack payload without a user or a response_url: %s", message)
        return
    services_of(context).tasks.spawn(
        tell_privately(
            client,
            Recipient(
                origin.user or "", origin.channel if origin.user else None, origin.response_url
            ),
            message,
        ),
        name="explain an incomplete payload",
    )


class Submission:
    """A view submission being answered: its form, and how to refuse it.

    `unreadable` is what the person is told privately when the form has no input to show an
    error under (it closes): what happened, and how to open it again.
    """

    def __init__(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        *,
        unreadable: str,
    ) -> None:
        self.form = Form(field(body, "view"))
        self.origin = interaction_origin(body)
        self._ack, self._client, self._context = ack, client, context
        self._unreadable = unreadable

    async def refuse(self, block_id: str, inline: str = FORM_OUT_OF_DATE) -> None:
        """Nothing is done: `inline` under `block_id` (or, if the form was opened without it,
        under its first input), so the person can fix it or start again; a form without any
        input closes, and the person is told privately."""
        where = self.form.error_block(block_id)
        if where is not None:
            await self._ack(response_action="errors", errors={where: inline})
            return
        await self._ack()
        tell_origin(self._context, self._client, self.origin, self._unreadable)
