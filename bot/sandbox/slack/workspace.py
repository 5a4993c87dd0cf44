"""The Slack stand-in's state: one workspace's conversations, messages, people, and the calls made.

`SlackWorkspace` holds what Slack holds for the bot (channels and who is in them, messages and
ephemerals, reactions, views, people and their time zones, workflow-step executions, trigger
ids and response URLs) and records every call made to it (`SlackCall`). Tests set it up and
read it back here; what each Web API method does to it lives beside (`chat`, `conversations`,
`views`, `steps`), and the HTTP that serves it in `webapi`.

Over 400 lines, yet one thing: the state a Slack workspace holds, with no HTTP in it.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.slack.blockkit import validate_blocks
from bot.sandbox.slack.protocol import SlackError, check_metadata, fill_ids, refusal, text_arg

BOT_ID = "B0001"
APP_ID = "A0001"
BOT_NAME = "ecwid-connect"
PERMALINK_BASE = "https://fake.slack.test"

_FIRST_TS_US = 1_700_000_000_000_100
_TS_STEP_US = 100
# How a channel restricts posting, and chat.postMessage's documented refusal for each.
POSTING_POLICIES = {
    "threads_only": "restricted_action_thread_only_channel",  # top-level posts refused
    "read_only": "restricted_action_read_only_channel",
    "restricted": "restricted_action",  # a workspace preference keeps the app from posting
    "ekm": "ekm_access_denied",  # administrators suspended posting
}
# The scope reading a conversation's messages needs, by its kind (conversations.history docs).
HISTORY_SCOPES = {
    "public": "channels:history",
    "private": "groups:history",
    "im": "im:history",
    "mpim": "mpim:history",
}


@dataclass(slots=True)
class SlackCall:
    """One request the bot made to the fake: a Web API method, `response_url` or an ack.

    `method` is the Web API method (`chat.postMessage`), `response_url` for a POST to a
    response URL, or `ack` for the body the bot answered a slash command or view submission
    with (applied like Slack applies it). `args` holds the parsed arguments, with `blocks` and
    `view` decoded when sent as form fields; `token` comes from the `Authorization` header.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    response: dict[str, Any]
    status: int = 200
    #: The connection was dropped before the bot read the answer: `dropped_before` (nothing done)
    #: or `dropped_after` (done, and the bot cannot know). None when answered.
    dropped: str | None = None
    #: When the call was done (`time.perf_counter()`: on Linux one clock for every process).
    done_at: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class FunctionExecution:
    """One run of a custom workflow step, as Slack holds it between `function_executed` and
    `functions.completeSuccess`/`functions.completeError` (bolt-python
    tests/scenario_tests_async/test_function.py: `function_execution_id` "Fx…", token "xwfp-…").
    """

    id: str
    callback_id: str
    inputs: dict[str, Any]
    bot_access_token: str
    state: str = "running"  # then "completed" or "failed"
    outputs: dict[str, Any] | None = None
    error: str | None = None


@dataclass(slots=True)
class Trigger:
    user: str
    view_id: str | None
    issued: float
    used: bool = False


@dataclass(slots=True)
class Hook:
    channel: str | None
    user: str | None
    message_ts: str | None
    ephemeral: bool
    issued: float
    uses: int = 0


class SlackWorkspace:
    """What Slack holds for one workspace and the bot installed in it.

    Channels never set up hold the bot and every known person. `clock` (seconds, monotonic)
    times trigger ids and response URLs.
    """

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        team_id: str = "T0001",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.calls: list[SlackCall] = []
        self._clock = clock
        self._ts = itertools.count()
        self._ids = itertools.count(1)
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._reactions: dict[tuple[str, str], set[str]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, Trigger] = {}
        self._hooks: dict[str, Hook] = {}
        self._members: dict[str, list[str]] = {}
        self._private: set[str] = set()
        self._posting: dict[str, str] = {}
        self._dms: dict[str, str] = {}
        self._users: dict[str, str] = {}
        self._groups: dict[str, list[str]] = {}
        self._shared: dict[str, str] = {}
        self._mpims: set[str] = set()
        self._time_zones: dict[str, str] = {}
        self._revoked: set[str] = set()
        self._executions: dict[str, FunctionExecution] = {}
        # Messages (by ts) and views (by ID) made with an execution's token: Slack sends their
        # interactions with that execution's context.
        self._made_for: dict[str, str] = {}
        self._gone_users: set[str] = set()
        self._caller_token: str | None = None  # the token of the call being handled
        self._waiters: list[tuple[Callable[[SlackCall], bool], asyncio.Future[SlackCall]]] = []

    # -- set-up ------------------------------------------------------------------------------------

    def set_channel_members(self, channel: str, users: list[str], *, private: bool = False) -> None:
        """Who is in `channel`; without the bot user, posting there fails with `not_in_channel`.

        A `private` channel the bot is not in does not exist for it: posting and
        `conversations.members` answer `channel_not_found`. Channels never set hold the bot and
        every known user.
        """
        self._members[channel] = list(users)
        if private:
            self._private.add(channel)
        else:
            self._private.discard(channel)

    def share_channel(self, channel: str, *, external: bool = True) -> None:
        """Make `channel` shared: with another organisation (Slack Connect, `is_ext_shared`) or,
        with `external=False`, between workspaces of this organisation (`is_org_shared`)."""
        self._shared[channel] = "external" if external else "organisation"

    def set_group_dm(self, channel: str, users: list[str]) -> None:
        """`channel` is a group DM (`is_mpim`) between the bot and `users`."""
        self._mpims.add(channel)
        self.set_channel_members(channel, [self.bot_user_id, *users], private=True)

    def revoke_scope(self, scope: str) -> None:
        """The bot token no longer holds `scope` (one of `HISTORY_SCOPES`' values): reading
        that kind of conversation answers `missing_scope`, as for an app installed before the
        scope was added to its manifest."""
        if scope not in HISTORY_SCOPES.values():
            raise ValueError(f"only {', '.join(HISTORY_SCOPES.values())} can be revoked here")
        self._revoked.add(scope)

    def set_posting_policy(self, channel: str, policy: str | None) -> None:
        """How `channel` restricts posting (a key of `POSTING_POLICIES`, or None for none).

        `chat.postMessage` and `in_channel` posts to a response URL are then refused with the
        documented error: `threads_only` refuses top-level messages only, the others every
        message. Ephemeral messages are still shown: they are not posts in the channel.
        """
        if policy is None:
            self._posting.pop(channel, None)
        elif policy not in POSTING_POLICIES:
            raise ValueError(f"no posting policy {policy!r}; known: {', '.join(POSTING_POLICIES)}")
        else:
            self._posting[channel] = policy

    def open_dm(self, user: str) -> str:
        """The DM channel (`D…`) between the bot and `user`, as the Messages tab holds it.

        The bot posting with `channel=<user ID>` lands there too, as in Slack.
        """
        if user not in self._dms:
            self._dms[user] = f"D{next(self._ids):08d}"
        return self._dms[user]

    def set_user_group(self, group: str, users: list[str]) -> None:
        """Who is in user group `group` (`S…`), as `usergroups.users.list` answers."""
        self._groups[group] = list(users)

    def add_user(self, user_id: str, name: str) -> None:
        """Make `users.info` answer `name` for `user_id` (`SlackUser` registers itself)."""
        self._users[user_id] = name

    def remove_user(self, user_id: str) -> None:
        """`user_id` is no member of the workspace: `users.info` answers `user_not_found`."""
        self._gone_users.add(user_id)

    def set_time_zone(self, user_id: str, tz: str) -> None:
        """`user_id` lives in IANA zone `tz` ("Europe/Berlin"): `users.info` answers it with
        its `tz_label` and today's `tz_offset` in seconds. Unset, a person is in UTC."""
        ZoneInfo(tz)  # an unknown zone fails here, not in a later call
        self._time_zones[user_id] = tz

    def start_function_execution(
        self, callback_id: str, inputs: Mapping[str, Any] | None = None
    ) -> FunctionExecution:
        """Slack starts a custom step `callback_id` in a workflow: a running execution with its
        own token (`xwfp-…`), which the `function_executed` event carries. The app ends it with
        `functions.completeSuccess` or `functions.completeError`; read it with `execution`."""
        execution = FunctionExecution(
            id=f"Fx{next(self._ids):010d}",
            callback_id=callback_id,
            inputs=copy.deepcopy(dict(inputs or {})),
            bot_access_token=f"xwfp-{self.team_id}-{secrets.token_hex(12)}",
        )
        self._executions[execution.id] = execution
        return execution

    def execution(self, execution_id: str) -> FunctionExecution:
        """The execution `execution_id` as it is now (state, outputs or error); read only."""
        return self._executions[execution_id]

    def function_context(self, made: str) -> dict[str, Any]:
        """What Slack adds to an interaction with a message (by ts) or view (by ID) the app made
        with an execution's token: `function_data`, the execution's `bot_access_token` and
        `interactivity` (bolt-python tests/slack_bolt/request/test_internals.py and its
        function block-actions scenario test); empty for anything else."""
        execution = self._executions.get(self._made_for.get(made, ""))
        if execution is None:
            return {}
        return {
            "function_data": {
                "execution_id": execution.id,
                "inputs": copy.deepcopy(execution.inputs),
                "function": {"callback_id": execution.callback_id},
            },
            "bot_access_token": execution.bot_access_token,
            "interactivity": {
                "interactivity_pointer": f"{secrets.token_hex(4)}.{execution.id}",
            },
        }

    def _note_made_for(self, made: str) -> None:
        token = self._caller_token or ""
        for execution in self._executions.values():
            if token == execution.bot_access_token:
                self._made_for[made] = execution.id

    def post_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Put a message of a person into `channel` (as if typed in Slack) and return it."""
        message: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": self._next_ts(),
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self._messages.setdefault(channel, []).append(message)
        return copy.deepcopy(message)

    def edit_user_message(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """A person edits their message `ts` in `channel`: new text, and `edited` as Slack
        records it (who, and when). Returns the message as it is now."""
        message = self._find_message(channel, ts)
        message["text"] = text
        message["edited"] = {"user": message.get("user"), "ts": self._next_ts()}
        return copy.deepcopy(message)

    # -- inspection --------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        """The recorded calls of `method`, failed ones included, oldest first."""
        return [call for call in self.calls if call.method == method]

    def dropped_after_applied(self, method: str) -> list[SlackCall]:
        """Calls of `method` that were applied and whose connection was then dropped."""
        return [c for c in self.calls_to(method) if c.dropped == "dropped_after"]

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Messages in `channel` as they are now (updates applied, deleted ones gone).

        With `thread_ts`: the thread's parent and replies only. Oldest first.
        """
        return [
            copy.deepcopy(message)
            for message in self._messages.get(channel, ())
            if thread_ts is None or thread_ts in (message["ts"], message.get("thread_ts"))
        ]

    def ephemerals(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages shown in `channel` (to `user`, if given), each with `recipient`."""
        return [
            copy.deepcopy(message)
            for message in self._ephemerals
            if message["channel"] == channel and user in (None, message["recipient"])
        ]

    def reactions(self, channel: str, ts: str) -> set[str]:
        """The bot's reactions on the message `ts` in `channel`."""
        return set(self._reactions.get((channel, ts), ()))

    def channel_name(self, channel: str) -> str:
        """The name Slack shows for `channel` in payloads."""
        return "directmessage" if channel.startswith("D") else channel.lower()

    async def wait_for(
        self,
        predicate: Callable[[SlackCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test waits for one call, not a whole block
        *,
        since: int = 0,
    ) -> SlackCall:
        """The first call from `calls[since:]` on, past or future, that matches `predicate`.

        Raises TimeoutError, listing the calls seen, when none arrives within `timeout` s.
        """
        for call in self.calls[since:]:
            if predicate(call):
                return call
        waiter = (predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except TimeoutError:
            seen = ", ".join(call.method for call in self.calls[since:]) or "none"
            raise TimeoutError(f"no matching Slack call within {timeout} s; seen: {seen}") from None
        finally:
            self._waiters.remove(waiter)

    def _record(self, call: SlackCall) -> None:
        self.calls.append(call)
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                if predicate(call):
                    future.set_result(call)
            except Exception as exc:  # a broken predicate fails its wait_for, not the server
                future.set_exception(exc)

    # -- messages ----------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = _FIRST_TS_US + next(self._ts) * _TS_STEP_US
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _bot_message(
        self, args: Mapping[str, Any], *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": str(args.get("text") or ""),
            "ts": self._next_ts(),
            "team": self.team_id,
        }
        if args.get("blocks"):
            message["blocks"] = fill_ids(args["blocks"], self._ids)
        if args.get("attachments"):
            message["attachments"] = copy.deepcopy(args["attachments"])
        if args.get("metadata"):
            message["metadata"] = copy.deepcopy(args["metadata"])
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self._note_made_for(message["ts"])
        return message

    def _check_message(self, args: Mapping[str, Any]) -> None:
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise refusal("invalid_blocks", errors)
        check_metadata(args.get("metadata"))

    def _channel(self, args: Mapping[str, Any]) -> str:
        channel = text_arg(args, "channel")
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _kind(self, channel: str) -> str:
        """`public`, `private`, `im` or `mpim`: which of `HISTORY_SCOPES` reading it needs."""
        if channel.startswith("D"):
            return "im"
        if channel in self._mpims:
            return "mpim"
        if channel in self._private or channel.startswith("G"):
            return "private"
        return "public"

    def _check_visible(self, channel: str) -> None:
        """A private channel the bot is not in does not exist, as far as it can tell."""
        if channel in self._private and self.bot_user_id not in self._members_of(channel):
            raise SlackError("channel_not_found")

    def _check_posting(self, channel: str, thread_ts: str | None) -> None:
        policy = self._posting.get(channel)
        if policy is None or (policy == "threads_only" and thread_ts is not None):
            return
        raise SlackError(POSTING_POLICIES[policy])

    def _members_of(self, channel: str) -> list[str]:
        return self._members.get(channel, [self.bot_user_id, *self._users])

    def _find_message(self, channel: str, ts: str | None) -> dict[str, Any]:
        for message in self._messages.get(channel, ()):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _find_ephemeral(self, channel: str | None, ts: str | None) -> dict[str, Any]:
        for message in self._ephemerals:
            if message["ts"] == ts and message["channel"] == channel:
                return message
        raise SlackError("message_not_found")

    def _locate(self, ts: str) -> tuple[str, dict[str, Any], bool] | None:
        """Where the message `ts` is: (channel, message as it is now, whether ephemeral)."""
        for channel, messages in self._messages.items():
            for message in messages:
                if message["ts"] == ts:
                    return channel, copy.deepcopy(message), False
        for message in self._ephemerals:
            if message["ts"] == ts:
                return str(message["channel"]), copy.deepcopy(message), True
        return None

    def _post_ephemeral(self, channel: str, user: str, args: Mapping[str, Any]) -> str:
        message = self._bot_message(args, thread_ts=text_arg(args, "thread_ts"))
        message.update(channel=channel, recipient=user)
        self._ephemerals.append(message)
        return str(message["ts"])
