"""What the methods that read the workspace do: conversations, people and user groups.

`conversations.info` (Slack Connect flags included), `conversations.members`, `conversations.open`
(the bot's DM with one person),
`conversations.history` and `conversations.replies` (cursor pages as Slack shapes them, message
metadata with `include_all_metadata`, the history scope for the conversation's kind and
membership checked), `users.info` (with the person's time zone) and `usergroups.users.list`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.slack.protocol import SlackError, refusal, text_arg
from bot.sandbox.slack.workspace import BOT_NAME, HISTORY_SCOPES, SlackWorkspace

# Page sizes when the caller gives no `limit` (docs.slack.dev/reference/methods/conversations.*).
_HISTORY_LIMIT = 100
_REPLIES_LIMIT = 1000
_MAX_LIMIT = 999


class ConversationMethods(SlackWorkspace):
    """Reading conversations and the people in them."""

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        self._check_visible(channel)
        kind = self._kind(channel)
        shared = self._shared.get(channel)
        return {
            "channel": {
                "id": channel,
                "name": self.channel_name(channel),
                "is_channel": kind in ("public", "private"),
                "is_group": False,
                "is_im": kind == "im",
                "is_mpim": kind == "mpim",
                "is_private": kind in ("private", "mpim"),
                "is_archived": False,
                "is_general": False,
                "is_shared": shared is not None,
                "is_ext_shared": shared == "external",
                "is_org_shared": shared == "organisation",
                "is_pending_ext_shared": False,
                "context_team_id": self.team_id,
                "is_member": self.bot_user_id in self._members_of(channel),
            }
        }

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        self._check_visible(channel)
        members = self._members_of(channel)
        return {"members": list(members), "response_metadata": {"next_cursor": ""}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """The bot's DM with the one person in `users` (a group DM is not modelled), as Slack
        answers without `return_im`: the channel's ID alone."""
        users = [u.strip() for u in (text_arg(args, "users") or "").split(",") if u.strip()]
        if not users:
            raise refusal("invalid_arguments", ["missing required field: users"])
        if len(users) > 1:
            raise SlackError("not_implemented")
        (user,) = users
        if not user.startswith(("U", "W")) or user in self._gone_users:
            raise SlackError("user_not_found")
        if user == self.bot_user_id:
            raise SlackError("cannot_dm_bot")
        return {"channel": {"id": self.open_dm(user)}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (thread parents included, replies not), newest first."""
        channel = self._readable_channel(args)
        messages = [m for m in self._messages.get(channel, ()) if _top_level(m)]
        messages = _between(messages, args)[::-1]
        return self._page(channel, messages, args, _HISTORY_LIMIT)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then the replies oldest first (`ts` may name any of them)."""
        channel = self._readable_channel(args)
        ts = text_arg(args, "ts")
        if ts is None:
            raise refusal("invalid_arguments", ["missing required field: ts"])
        named = next((m for m in self._messages.get(channel, ()) if m["ts"] == ts), None)
        if named is None:
            raise SlackError("thread_not_found")
        root = str(named.get("thread_ts") or named["ts"])
        thread = [
            m for m in self._messages.get(channel, ()) if root in (m["ts"], m.get("thread_ts"))
        ]
        parent, replies = thread[:1], _between(thread[1:], args)
        return self._page(channel, [*parent, *replies], args, _REPLIES_LIMIT)

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = text_arg(args, "user")
        if user is None or not user.startswith(("U", "W")) or user in self._gone_users:
            raise SlackError("user_not_found")
        bot = user == self.bot_user_id
        name = BOT_NAME if bot else self._users.get(user, user.lower())
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "is_bot": bot,
                "deleted": False,
                **_time_zone(self._time_zones.get(user, "UTC")),
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = text_arg(args, "usergroup")
        if group is None or group not in self._groups:
            raise SlackError("no_such_subteam")
        return {"users": list(self._groups[group])}

    def _readable_channel(self, args: Mapping[str, Any]) -> str:
        """The channel of a history call, if the bot may read it: the scope for its kind, and
        membership (Slack answers `not_in_channel` for a public channel the bot has not
        joined, `channel_not_found` for a private one)."""
        channel = self._channel(args)
        needed = HISTORY_SCOPES[self._kind(channel)]
        if needed in self._revoked:
            provided = sorted(set(HISTORY_SCOPES.values()) - self._revoked)
            raise SlackError("missing_scope", needed=needed, provided=",".join(provided))
        self._check_visible(channel)
        if self.bot_user_id not in self._members_of(channel):
            raise SlackError("not_in_channel")
        return channel

    def _page(
        self, channel: str, messages: list[dict[str, Any]], args: Mapping[str, Any], limit: int
    ) -> dict[str, Any]:
        """One page of `messages` by cursor (Slack's "next_ts:<ts>", base64) and `limit`."""
        start = 0
        cursor = text_arg(args, "cursor")
        if cursor is not None:
            ts = _cursor_ts(cursor)
            start = next((i for i, m in enumerate(messages) if m["ts"] == ts), -1)
            if start < 0:
                raise SlackError("invalid_cursor")
        try:
            size = min(int(args.get("limit") or limit), _MAX_LIMIT)
        except ValueError:
            raise refusal("invalid_arguments", ["limit must be a number"]) from None
        page = messages[start : start + max(size, 1)]
        more = start + len(page) < len(messages)
        next_cursor = _cursor(str(messages[start + len(page)]["ts"])) if more else ""
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        return {
            "messages": [self._as_read(channel, m, with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _as_read(
        self, channel: str, message: Mapping[str, Any], with_metadata: bool
    ) -> dict[str, Any]:
        """A message as the history methods show it: a thread's parent with its reply counts,
        a reply with its parent's author, metadata only when asked for."""
        shown = copy.deepcopy(dict(message))
        if not with_metadata:
            shown.pop("metadata", None)
        replies = [m for m in self._messages.get(channel, ()) if m.get("thread_ts") == shown["ts"]]
        if replies and "thread_ts" not in message:
            users = sorted({str(m.get("user")) for m in replies})
            shown.update(
                thread_ts=shown["ts"],
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1]["ts"],
            )
        elif "thread_ts" in message and message["thread_ts"] != message["ts"]:
            parent = next(
                (m for m in self._messages.get(channel, ()) if m["ts"] == message["thread_ts"]),
                None,
            )
            if parent is not None:
                shown["parent_user_id"] = parent.get("user")
        return shown


def _top_level(message: Mapping[str, Any]) -> bool:
    """Whether `message` shows in the channel itself: not a reply in a thread."""
    return message.get("thread_ts") in (None, message["ts"])


def _between(messages: list[dict[str, Any]], args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`messages` after `oldest` and before `latest` (those included with `inclusive`)."""
    oldest, latest = text_arg(args, "oldest"), text_arg(args, "latest")
    inclusive = str(args.get("inclusive", "")).lower() in ("true", "1")

    def within(message: Mapping[str, Any]) -> bool:
        ts = float(message["ts"])
        if oldest is not None and (ts < float(oldest) or (ts == float(oldest) and not inclusive)):
            return False
        return latest is None or ts < float(latest) or (ts == float(latest) and inclusive)

    return [message for message in messages if within(message)]


def _cursor(ts: str) -> str:
    """A page cursor as Slack's look: base64 of "next_ts:<ts without the dot>"."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _cursor_ts(cursor: str) -> str:
    try:
        prefix, _, digits = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if prefix != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise SlackError("invalid_cursor")
    return f"{digits[:-6]}.{digits[-6:]}"


def _time_zone(tz: str) -> dict[str, Any]:
    """`tz`, `tz_label` and `tz_offset` (seconds east of UTC, today) as `users.info` has them;
    the zone's abbreviation ("CET") stands in for Slack's long label."""
    now = datetime.datetime.now(ZoneInfo(tz))
    offset = now.utcoffset() or datetime.timedelta()
    return {"tz": tz, "tz_label": now.tzname() or tz, "tz_offset": int(offset.total_seconds())}
