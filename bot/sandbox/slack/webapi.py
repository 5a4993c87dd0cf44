"""A local stand-in for Slack's Web API, so that the real bot runs over real HTTP on loopback.

`FakeSlack` plays `POST /api/<method>` and the `response_url`s it hands out: it records every
call, keeps the messages, reactions and views the bot produced, refuses Block Kit that Slack
would refuse (`bot.sandbox.slack.blockkit`), and fails calls on demand (errors, 429, 5xx:
`fail_next`) or a random fraction of them, dropped connections included (`inject_faults`).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import random
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.slack.blockkit import (
    validate_blocks,
    validate_view,
)

BOT_ID = "B0001"
APP_ID = "A0001"
BOT_NAME = "ecwid-connect"
PERMALINK_BASE = "https://fake.slack.test"
TRIGGER_LIFETIME_S = 3.0
RESPONSE_URL_LIFETIME_S = 30 * 60.0
RESPONSE_URL_USES = 5
VIEW_STACK_LIMIT = 3

_FIRST_TS_US = 1_700_000_000_000_100
_TS_STEP_US = 100
_SHUTDOWN_TIMEOUT_S = 0.5
_DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
# Errors that Slack answers on a dead `response_url` with 404; the others with 400.
_DEAD_HOOK_ERRORS = frozenset({"invalid_url", "used_url", "expired_url"})
_JSON_ARGS = ("blocks", "attachments", "view", "metadata")
# How a channel restricts posting, and chat.postMessage's documented refusal for each.
POSTING_POLICIES = {
    "threads_only": "restricted_action_thread_only_channel",  # top-level posts refused
    "read_only": "restricted_action_read_only_channel",
    "restricted": "restricted_action",  # a workspace preference keeps the app from posting
    "ekm": "ekm_access_denied",  # administrators suspended posting
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
class _Failure:
    error: str
    status: int
    retry_after: int | None
    response: dict[str, Any] | None = None


@dataclass(slots=True)
class _FaultPlan:
    fraction: float
    methods: frozenset[str]
    kinds: tuple[str, ...]
    retry_after: int
    random: random.Random


FAULT_KINDS = ("rate_limited", "server_error", "dropped_before", "dropped_after")
"""What `inject_faults` may do to a call: 429 with Retry-After, 500, a connection dropped before
the call is done, or after it is done (the bot cannot tell whether it was)."""


@dataclass(slots=True)
class _Trigger:
    user: str
    view_id: str | None
    issued: float
    used: bool = False


@dataclass(slots=True)
class _Hook:
    channel: str | None
    user: str | None
    message_ts: str | None
    ephemeral: bool
    issued: float
    uses: int = 0


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.response: dict[str, Any] = {"ok": False, "error": error, **extra}


def _refusal(error: str, messages: list[str]) -> _SlackError:
    """Slack's answer to Block Kit it will not take: `invalid_blocks` also lists `errors`."""
    metadata = {"messages": [f"[ERROR] {message}" for message in messages]}
    if error == "invalid_blocks":
        return _SlackError(error, errors=messages, response_metadata=metadata)
    return _SlackError(error, response_metadata=metadata)


def _text_arg(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    return str(value) if value not in (None, "") else None


def interactive_elements(block: Mapping[str, Any]) -> list[Any]:
    elements = [block.get("accessory"), block.get("element")]
    if block.get("type") == "actions":
        elements.extend(block.get("elements") or ())
    return elements


def _fill_ids(blocks: list[Any], ids: Iterator[int]) -> list[Any]:
    """A copy of `blocks` where, as Slack does, every block and element has an id."""
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", f"b{next(ids)}")
        for element in interactive_elements(block):
            if isinstance(element, dict) and element.get("type") != "image":
                element.setdefault("action_id", f"a{next(ids)}")
    return filled


_Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack(LoopbackServer):
    """Slack's Web API and response URLs, on a local aiohttp server, for one workspace.

    Point the bot's `AsyncWebClient(base_url=…)` (`SLACK_API_URL`) at `api_url`. Any token
    `xoxb-…` is accepted. `clock` (seconds, monotonic) times trigger ids and response URLs.
    `chat.update`/`chat.delete` need a message the bot posted here; reactions and permalinks
    take any `ts`, so that events made up by a test work too. `latency_ms` is added to every
    Web API call, as a network's round trip would.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_user_id: str = "UBOT",
        team_id: str = "T0001",
        clock: Callable[[], float] = time.monotonic,
        latency_ms: float = 0,
    ) -> None:
        self.bot_user_id = bot_user_id
        self._latency_s = latency_ms / 1000
        self.team_id = team_id
        super().__init__(host, port)
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
        self._triggers: dict[str, _Trigger] = {}
        self._hooks: dict[str, _Hook] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._faults: _FaultPlan | None = None
        self._holds: dict[str, asyncio.Event] = {}
        #: Every connection the Web API was called over, by the caller's address and port.
        self.api_connections: set[tuple[str, int]] = set()
        self._members: dict[str, list[str]] = {}
        self._private: set[str] = set()
        self._posting: dict[str, str] = {}
        self._dms: dict[str, str] = {}
        self._users: dict[str, str] = {}
        self._groups: dict[str, list[str]] = {}
        self._waiters: list[tuple[Callable[[SlackCall], bool], asyncio.Future[SlackCall]]] = []
        self._methods: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._response_url)
        app.router.add_post("/control/trigger", self._control_trigger)
        app.router.add_post("/control/response-url", self._control_response_url)
        app.router.add_get("/control/posted", self._control_posted)
        return app

    def runner_options(self) -> dict[str, Any]:
        return {"access_log": None, "shutdown_timeout": _SHUTDOWN_TIMEOUT_S}

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT/api/`: the Web API base URL for `AsyncWebClient(base_url=…)`."""
        return f"{self.base_url}/api/"

    # -- set-up and injection ------------------------------------------------------------------

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

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail the next `times` calls of `method` (or `response_url`) without doing them.

        `error` alone answers `{"ok": false, "error": error}` with HTTP 200; `status=429`
        answers `ratelimited` with `Retry-After: retry_after` (default 1); 500 and 503 answer a
        server error. `response` answers that body as it is (a recorded Slack answer).
        """
        if response is not None:
            error = str(response.get("error") or error or "fatal_error")
        if error is None and status == 200:
            raise ValueError("give an error, a non-200 status or both")
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = _Failure(
            error or _DEFAULT_ERRORS.get(status, "fatal_error"),
            status,
            retry_after,
            copy.deepcopy(dict(response)) if response is not None else None,
        )
        self._failures.setdefault(method, deque()).extend([failure] * times)

    def inject_faults(
        self,
        fraction: float,
        *,
        methods: tuple[str, ...] = ("chat.postMessage",),
        kinds: tuple[str, ...] = FAULT_KINDS,
        retry_after: int = 1,
        seed: int = 0,
    ) -> None:
        """From now on, fail `fraction` of the calls of `methods`, each in one of `kinds`
        (`FAULT_KINDS`) picked at random (seeded: the same run fails the same way).

        A dropped call is recorded with `dropped` set; `dropped_after` ones were applied.
        `inject_faults(0)` stops.
        """
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds are among {FAULT_KINDS}")
        self._faults = (
            _FaultPlan(fraction, frozenset(methods), kinds, retry_after, random.Random(seed))  # noqa: S311
            if fraction > 0
            else None
        )

    def hold(self, method: str) -> asyncio.Event:
        """Keep every call of `method` waiting, as a slow Slack would, until the returned event
        is set; then they are answered as usual."""
        gate = self._holds[method] = asyncio.Event()
        return gate

    def dropped_after_applied(self, method: str) -> list[SlackCall]:
        """Calls of `method` that were applied and whose connection was then dropped."""
        return [c for c in self.calls_to(method) if c.dropped == "dropped_after"]

    def issue_trigger_id(self, user_id: str, *, view_id: str | None = None) -> str:
        """A fresh trigger id for an interaction of `user_id` (from within `view_id`, if any).

        It opens or pushes one view, within 3 s.
        """
        trigger_id = f"{next(self._ids)}.{self.team_id[1:] or '1'}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user_id, view_id, self._clock())
        return trigger_id

    def new_response_url(
        self,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """A response URL on this server: 5 uses within 30 minutes, like Slack's.

        Posts to it are recorded as `SlackCall(method="response_url")` and land in `channel`:
        `in_channel` as messages, others as ephemerals to `user`; `replace_original` and
        `delete_original` act on the message `message_ts` (an ephemeral one if `ephemeral`).
        """
        hook_id = f"{next(self._ids)}-{secrets.token_hex(12)}"
        self._hooks[hook_id] = _Hook(channel, user, message_ts, ephemeral, self._clock())
        return f"{self.base_url}/hooks/{hook_id}"

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

    def close_view(self, view_id: str) -> None:
        """The user closed the modal at `view_id` (and the views pushed on top of it).

        Later `views.update` calls for them answer `not_found`.
        """
        view = self._views.get(view_id)
        if view is None:
            raise KeyError(f"no open view {view_id!r}")
        root = str(view["root_view_id"])
        stack = self._stacks.get(root, [view_id])
        index = stack.index(view_id)
        closing, self._stacks[root] = stack[index:], stack[:index]
        if not self._stacks[root]:
            del self._stacks[root]
        for closed in closing:
            del self._views[closed]

    # -- inspection ----------------------------------------------------------------------------

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Open views (modals and Home tabs) by id, as Slack holds them now; read only."""
        return self._views

    def calls_to(self, method: str) -> list[SlackCall]:
        """The recorded calls of `method`, failed ones included, oldest first."""
        return [call for call in self.calls if call.method == method]

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

    # -- HTTP ----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.transport is not None:
            peer = request.transport.get_extra_info("peername")
            self.api_connections.add((str(peer[0]), int(peer[1])))
        if (gate := self._holds.get(method)) is not None:
            await gate.wait()
        if self._latency_s > 0:
            await asyncio.sleep(self._latency_s)
        token: str | None = None
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        try:
            args = await _read_args(request)
            token = _bearer(request) or _text_arg(args, "token")
            args.pop("token", None)
            handler = self._methods.get(method)
            if handler is None:
                raise _SlackError("unknown_method", req_method=method)
            if token is None:
                raise _SlackError("not_authed")
            if not token.startswith("xoxb-"):
                raise _SlackError("invalid_auth")
            failure = self._take_failure(method)
            fault = self._pick_fault(method) if failure is None else None
            if fault == "rate_limited" and self._faults is not None:
                failure = _Failure("ratelimited", 429, self._faults.retry_after)
            elif fault == "server_error":
                failure = _Failure("internal_error", 500, None)
            if failure is not None:
                status, headers = failure.status, _failure_headers(failure)
                refusal = _SlackError(failure.error)
                if failure.response is not None:
                    refusal.response = failure.response
                raise refusal
            if fault == "dropped_before":
                self._record(SlackCall(method, args, token, {}, 0, dropped=fault))
                return self._drop(request)
            response = {"ok": True, **handler(args)}
            if fault == "dropped_after":
                self._record(SlackCall(method, args, token, response, 0, dropped=fault))
                return self._drop(request)
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall(method, args, token, response, status))
        return web.json_response(response, status=status, headers=headers)

    def _pick_fault(self, method: str) -> str | None:
        plan = self._faults
        if plan is None or method not in plan.methods or plan.random.random() >= plan.fraction:
            return None
        return plan.random.choice(plan.kinds)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without answering, as a proxy or a network would."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _control_posted(self, request: web.Request) -> web.Response:
        """For a driver in another process: wait for the bot's message in thread `thread_ts`,
        and say when it was posted (`done_at`)."""
        thread_ts = request.query["thread_ts"]
        call = await self.wait_for(
            lambda call: (
                call.method == "chat.postMessage"
                and call.args.get("thread_ts") == thread_ts
                and call.response.get("ok") is True
            ),
            timeout=float(request.query.get("timeout", "30")),
        )
        return web.json_response({"done_at": call.done_at, "ts": call.response.get("ts")})

    async def _control_trigger(self, request: web.Request) -> web.Response:
        """For a driver in another process: a fresh trigger id, as a click would bring."""
        return web.json_response({"trigger_id": self.issue_trigger_id(request.query["user"])})

    async def _control_response_url(self, request: web.Request) -> web.Response:
        """For a driver in another process: a fresh response_url for `channel`."""
        url = self.new_response_url(channel=request.query.get("channel"))
        return web.json_response({"response_url": url})

    async def _response_url(self, request: web.Request) -> web.Response:
        status, headers = 200, {}
        try:
            body = await request.json()
        except ValueError:
            body = None
        args: dict[str, Any] = body if isinstance(body, dict) else {}
        try:
            failure = self._take_failure("response_url")
            if failure is not None:
                status, headers = failure.status, _failure_headers(failure)
                raise _SlackError(failure.error)
            hook = self._live_hook(request.match_info["hook"])
            if body is None:
                raise _SlackError("invalid_payload")
            hook.uses += 1
            self._deliver(hook, args)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
            if status == 200:
                status = 404 if refusal.error in _DEAD_HOOK_ERRORS else 400
        self._record(SlackCall("response_url", args, None, response, status))
        return web.json_response(response, status=status, headers=headers)

    def _live_hook(self, hook_id: str) -> _Hook:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise _SlackError("invalid_url")
        if self._clock() - hook.issued > RESPONSE_URL_LIFETIME_S:
            raise _SlackError("expired_url")
        if hook.uses >= RESPONSE_URL_USES:
            raise _SlackError("used_url")
        return hook

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

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

    # -- acknowledgements, applied by SlackUser ------------------------------------------------

    def _acknowledge_message(self, response_url: str, body: dict[str, Any]) -> None:
        """A slash command's ack body: Slack shows it like a post to its response URL."""
        try:
            self._deliver(self._hooks[response_url.rsplit("/", 1)[-1]], body)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))

    def _acknowledge_submission(self, view_id: str, body: dict[str, Any]) -> None:
        """A view submission's ack body: close, update, push, clear, or show errors."""
        try:
            self._apply_response_action(view_id, body)
            response: dict[str, Any] = {"ok": True}
        except _SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))

    def _apply_response_action(self, view_id: str, body: dict[str, Any]) -> None:
        action = body.get("response_action")
        view = self._views.get(view_id)
        if view is None:
            raise _SlackError("not_found")
        if action is None:
            self.close_view(view_id)
        elif action == "clear":
            self.close_view(str(view["root_view_id"]))
        elif action == "errors":
            errors = body.get("errors")
            if not isinstance(errors, dict) or not errors:
                raise _refusal("invalid_arguments", ["must provide errors [json-pointer:/errors]"])
            inputs = {b.get("block_id") for b in view["blocks"] if b.get("type") == "input"}
            unknown = sorted(set(errors) - inputs)
            if unknown:
                messages = [f"no input block {key} [json-pointer:/errors/{key}]" for key in unknown]
                raise _refusal("invalid_arguments", messages)
        elif action == "update":
            self._replace_view(view, self._checked_view(body, ("modal",), replacing=view_id))
        elif action == "push":
            self._push_view(view, self._checked_view(body, ("modal",)))
        else:
            raise _refusal("invalid_arguments", ["unknown response_action"])

    # -- messages ------------------------------------------------------------------------------

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
            message["blocks"] = _fill_ids(args["blocks"], self._ids)
        if args.get("attachments"):
            message["attachments"] = copy.deepcopy(args["attachments"])
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        return message

    def _check_message(self, args: Mapping[str, Any]) -> None:
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise _SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise _refusal("invalid_blocks", errors)

    def _channel(self, args: Mapping[str, Any]) -> str:
        channel = _text_arg(args, "channel")
        if channel is None:
            raise _SlackError("channel_not_found")
        return channel

    def _check_visible(self, channel: str) -> None:
        """A private channel the bot is not in does not exist, as far as it can tell."""
        if channel in self._private and self.bot_user_id not in self._members_of(channel):
            raise _SlackError("channel_not_found")

    def _check_posting(self, channel: str, thread_ts: str | None) -> None:
        policy = self._posting.get(channel)
        if policy is None or (policy == "threads_only" and thread_ts is not None):
            return
        raise _SlackError(POSTING_POLICIES[policy])

    def _members_of(self, channel: str) -> list[str]:
        return self._members.get(channel, [self.bot_user_id, *self._users])

    def _find_message(self, channel: str, ts: str | None) -> dict[str, Any]:
        for message in self._messages.get(channel, ()):
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    def _find_ephemeral(self, channel: str | None, ts: str | None) -> dict[str, Any]:
        for message in self._ephemerals:
            if message["ts"] == ts and message["channel"] == channel:
                return message
        raise _SlackError("message_not_found")

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
        message = self._bot_message(args, thread_ts=_text_arg(args, "thread_ts"))
        message.update(channel=channel, recipient=user)
        self._ephemerals.append(message)
        return str(message["ts"])

    def _deliver(self, hook: _Hook, body: Mapping[str, Any]) -> None:
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
            raise _SlackError("channel_not_found")
        if body.get("replace_original") and hook.message_ts is not None:
            if hook.ephemeral:
                target = self._find_ephemeral(hook.channel, hook.message_ts)
            else:
                target = self._find_message(hook.channel, hook.message_ts)
            target["text"] = str(body.get("text") or "")
            for key in ("blocks", "attachments"):
                target.pop(key, None)
            if body.get("blocks"):
                target["blocks"] = _fill_ids(body["blocks"], self._ids)
            if body.get("attachments"):
                target["attachments"] = copy.deepcopy(body["attachments"])
        elif body.get("response_type") == "in_channel":
            thread_ts = _text_arg(body, "thread_ts")
            self._check_posting(hook.channel, thread_ts)
            message = self._bot_message(body, thread_ts=thread_ts)
            self._messages.setdefault(hook.channel, []).append(message)
        else:
            self._post_ephemeral(hook.channel, hook.user or "", body)

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
            raise _SlackError("not_in_channel")
        thread_ts = _text_arg(args, "thread_ts")
        self._check_posting(channel, thread_ts)
        self._check_message(args)
        message = self._bot_message(args, thread_ts=thread_ts)
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, _text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_update_message")
        if "text" not in args and "blocks" not in args:
            raise _SlackError("no_text")
        if args.get("blocks") is not None:
            errors = validate_blocks(args["blocks"])
            if errors:
                raise _refusal("invalid_blocks", errors)
        if "text" in args:
            message["text"] = str(args["text"] or "")
        if "blocks" in args:
            message.pop("blocks", None)
            if args["blocks"]:
                message["blocks"] = _fill_ids(args["blocks"], self._ids)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find_message(channel, _text_arg(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_delete_message")
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = _text_arg(args, "user")
        if user is None:
            raise _SlackError("user_not_found")
        self._check_visible(channel)
        members = self._members_of(channel)
        if self.bot_user_id not in members:
            raise _SlackError("not_in_channel")
        if user not in members:
            raise _SlackError("user_not_in_channel")
        self._check_message(args)
        return {"message_ts": self._post_ephemeral(channel, user, args)}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = _text_arg(args, "message_ts")
        if ts is None:
            raise _SlackError("message_not_found")
        permalink = f"{PERMALINK_BASE}/archives/{channel}/p{ts.replace('.', '')}"
        located = self._locate(ts)
        thread_ts = located[1].get("thread_ts") if located else None
        if thread_ts not in (None, ts):
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _reaction(self, args: Mapping[str, Any]) -> tuple[set[str], str]:
        channel, ts, name = (_text_arg(args, key) for key in ("channel", "timestamp", "name"))
        if channel is None or ts is None:
            raise _SlackError("no_item_specified")
        if name is None:
            raise _SlackError("invalid_name")
        return self._reactions.setdefault((channel, ts), set()), name

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name in names:
            raise _SlackError("already_reacted")
        names.add(name)
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        names, name = self._reaction(args)
        if name not in names:
            raise _SlackError("no_reaction")
        names.remove(name)
        return {}

    # -- views ---------------------------------------------------------------------------------

    def _checked_view(
        self, args: Mapping[str, Any], kinds: tuple[str, ...], *, replacing: str | None = None
    ) -> dict[str, Any]:
        spec = args.get("view")
        if spec is None:
            raise _refusal("invalid_arguments", ["missing required field: view"])
        errors = validate_view(spec)
        if not errors and spec.get("type") not in kinds:
            errors = [f"must be {' or '.join(kinds)} here [json-pointer:/view/type]"]
        if errors:
            raise _refusal("invalid_arguments", errors)
        external_id = spec.get("external_id")
        if external_id and any(
            v["external_id"] == external_id and v["id"] != replacing for v in self._views.values()
        ):
            raise _SlackError("duplicate_external_id")
        return dict(spec)

    def _exchange(self, args: Mapping[str, Any]) -> _Trigger:
        trigger_id = _text_arg(args, "trigger_id") or _text_arg(args, "interactivity_pointer")
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None:
            raise _SlackError("invalid_trigger_id")
        if trigger.used:
            raise _SlackError("exchanged_trigger_id")
        if self._clock() - trigger.issued > TRIGGER_LIFETIME_S:
            raise _SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_record(
        self, spec: Mapping[str, Any], view_id: str, *, root: str, previous: str | None
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "title": copy.deepcopy(spec.get("title")),
            "submit": copy.deepcopy(spec.get("submit")),
            "close": copy.deepcopy(spec.get("close")),
            "blocks": _fill_ids(spec["blocks"], self._ids),
            "private_metadata": str(spec.get("private_metadata") or ""),
            "callback_id": str(spec.get("callback_id") or ""),
            "external_id": str(spec.get("external_id") or ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close")),
            "notify_on_close": bool(spec.get("notify_on_close")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = view
        return view

    def _new_view_id(self) -> str:
        return f"V{next(self._ids):08d}"

    def _open_view(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        view_id = self._new_view_id()
        self._stacks[view_id] = [view_id]
        return self._view_record(spec, view_id, root=view_id, previous=None)

    def _push_view(self, below: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        stack = self._stacks[str(below["root_view_id"])]
        if len(stack) >= VIEW_STACK_LIMIT:
            raise _SlackError("push_limit_reached")
        view_id = self._new_view_id()
        view = self._view_record(spec, view_id, root=stack[0], previous=stack[-1])
        stack.append(view_id)
        return view

    def _replace_view(self, current: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        state = current["state"]
        view = self._view_record(
            spec,
            str(current["id"]),
            root=str(current["root_view_id"]),
            previous=current["previous_view_id"],
        )
        view["state"] = state
        view["external_id"] = view["external_id"] or current["external_id"]
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        self._exchange(args)
        return {"view": copy.deepcopy(self._open_view(spec))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        trigger = self._exchange(args)
        below = self._views.get(trigger.view_id or "")
        if below is None or below["type"] != "modal":
            raise _SlackError("not_found")
        return {"view": copy.deepcopy(self._push_view(below, spec))}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = _text_arg(args, "view_id"), _text_arg(args, "external_id")
        if view_id is None and external_id is None:
            raise _refusal("invalid_arguments", ["must provide view_id or external_id"])
        current = next(
            (
                view
                for view in self._views.values()
                if view["id"] == view_id or (external_id and view["external_id"] == external_id)
            ),
            None,
        )
        if current is None:
            raise _SlackError("not_found")
        spec = self._checked_view(args, ("modal", "home"), replacing=str(current["id"]))
        return {"view": copy.deepcopy(self._replace_view(current, spec))}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _text_arg(args, "user_id")
        if user is None:
            raise _refusal("invalid_arguments", ["missing required field: user_id"])
        view_id = self._homes.get(user) or self._new_view_id()
        spec = self._checked_view(args, ("home",), replacing=view_id)
        self._homes[user] = view_id
        view = self._view_record(spec, view_id, root=view_id, previous=None)
        return {"view": copy.deepcopy(view)}

    # -- conversations and users ---------------------------------------------------------------

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        return {
            "channel": {
                "id": channel,
                "name": self.channel_name(channel),
                "is_channel": channel.startswith("C"),
                "is_group": False,
                "is_im": channel.startswith("D"),
                "is_private": channel.startswith("G"),
                "is_archived": False,
                "is_member": self.bot_user_id in self._members_of(channel),
            }
        }

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        self._check_visible(channel)
        members = self._members_of(channel)
        return {"members": list(members), "response_metadata": {"next_cursor": ""}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _text_arg(args, "user")
        if user is None or not user.startswith(("U", "W")):
            raise _SlackError("user_not_found")
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
                "tz": "UTC",
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = _text_arg(args, "usergroup")
        if group is None or group not in self._groups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self._groups[group])}


async def _read_args(request: web.Request) -> dict[str, Any]:
    """The call's arguments: query string, then a JSON or form body; JSON-in-form decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise _SlackError("invalid_json")
            args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise _SlackError(f"invalid_{key}") from None
    return args


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _failure_headers(failure: _Failure) -> dict[str, str]:
    return {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
