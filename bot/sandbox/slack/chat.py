"""What the chat and reactions methods, and response URLs, do to the stand-in's workspace.

`chat.postMessage` (with message metadata), `chat.update`, `chat.delete`, `chat.postEphemeral`
(in a thread too), `chat.getPermalink`, `reactions.add`/`remove`, `auth.test`, and what Slack does
with a message posted to a response URL or a slash command's acknowledgement. Refusals are the
ones each method's page documents.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.sandbox.slack.blockkit import validate_blocks
from bot.sandbox.slack.protocol import SlackError, fill_ids, refusal, text_arg
from bot.sandbox.slack.workspace import (
    BOT_ID,
    BOT_NAME,
    PERMALINK_BASE,
    Hook,
    SlackCall,
    SlackWorkspace,
)

RESPONSE_URL_LIFETIME_S = 30 * 60.0
RESPONSE_URL_USES = 5


class ChatMethods(SlackWorkspace):
    """Posting, editing and reacting, through the Web API or a response URL."""

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{PERMALINK_BASE}/",
            "team": "Fake Team",
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.startswith(("U", "W")):  # a user ID posts in the bot's DM with them
            channel = self.open_dm(channel)
        self._check_visible(channel)
        if self.bot_user_id not in self._members_of(channel):
            raise SlackError("not_in_channel")
        thread_ts = text_arg(args, "thread_ts")
        self._check_posting(channel, thread_ts)
        self._check_message(args)
        message = self._bot_message(args, thread_ts=thread_ts)
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        if "text" not in args and "blocks" not in args:
            raise SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise refusal("invalid_blocks", errors)
        if "text" in args:
            message["text"] = str(args["text"] or "")
        if "blocks" in args:
            message.pop("blocks", None)
            if args["blocks"]:
                message["blocks"] = fill_ids(args["blocks"], self._ids)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = text_arg(args, "user")
        if user is None:
            raise SlackError("user_not_found")
        self._check_visible(channel)
        members = self._members_of(channel)
        if self.bot_user_id not in members:
            raise SlackError("not_in_channel")
        if user not in members:
            raise SlackError("user_not_in_channel")
        self._check_message(args)
        return {"message_ts": self._post_ephemeral(channel, user, args)}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = text_arg(args, "message_ts")
        if ts is None:
            raise SlackError("message_not_found")
        permalink = f"{PERMALINK_BASE}/archives/{channel}/p{ts.replace('.', '')}"
        located = self._locate(ts)
        thread_ts = located[1].get("thread_ts") if located else None
        if thread_ts not in (None, ts):
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _reaction(self, args: Mapping[str, Any]) -> tuple[set[str], str]:
        channel, ts, name = (text_arg(args, key) for key in ("channel", "timestamp", "name"))
        if channel is None or ts is None:
            raise SlackError("no_item_specified")
        if name is None:
            raise SlackError("invalid_name")
        return self._reactions.setdefault((channel, ts), set()), name

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name in names:
            raise SlackError("already_reacted")
        names.add(name)
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name not in names:
            raise SlackError("no_reaction")
        names.remove(name)
        return {}

    # -- response URLs -----------------------------------------------------------------------------

    def _live_hook(self, hook_id: str) -> Hook:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise SlackError("invalid_url")
        if self._clock() - hook.issued > RESPONSE_URL_LIFETIME_S:
            raise SlackError("expired_url")
        if hook.uses >= RESPONSE_URL_USES:
            raise SlackError("used_url")
        return hook

    def _deliver(self, hook: Hook, body: Mapping[str, Any]) -> None:
        """What Slack does with a message posted to a response URL (or a slash command's ack)."""
        if body.get("delete_original"):
            if hook.ephemeral:
                self._ephemerals.remove(self._find_ephemeral(hook.channel, hook.message_ts))
            else:
                channel = hook.channel or ""
                self._messages[channel].remove(self._find_message(channel, hook.message_ts))
            return
        self._check_message(body)
        if hook.channel is None:
            raise SlackError("channel_not_found")
        if body.get("replace_original") and hook.message_ts is not None:
            if hook.ephemeral:
                target = self._find_ephemeral(hook.channel, hook.message_ts)
            else:
                target = self._find_message(hook.channel, hook.message_ts)
            target["text"] = str(body.get("text") or "")
            for key in ("blocks", "attachments"):
                target.pop(key, None)
            if body.get("blocks"):
                target["blocks"] = fill_ids(body["blocks"], self._ids)
            if body.get("attachments"):
                target["attachments"] = copy.deepcopy(body["attachments"])
        elif body.get("response_type") == "in_channel":
            thread_ts = text_arg(body, "thread_ts")
            self._check_posting(hook.channel, thread_ts)
            message = self._bot_message(body, thread_ts=thread_ts)
            self._messages.setdefault(hook.channel, []).append(message)
        else:
            self._post_ephemeral(hook.channel, hook.user or "", body)

    def _acknowledge_message(self, response_url: str, body: dict[str, Any]) -> None:
        """A slash command's ack body: Slack shows it like a post to its response URL."""
        try:
            self._deliver(self._hooks[response_url.rsplit("/", 1)[-1]], body)
            response: dict[str, Any] = {"ok": True}
        except SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))
