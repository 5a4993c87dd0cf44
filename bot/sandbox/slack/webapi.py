"""A local stand-in for Slack's Web API, so that the real bot runs over real HTTP on loopback.

`FakeSlack` serves `POST /api/<method>` and the `response_url`s it hands out over aiohttp: it
reads each call's arguments and token, applies planned failures (`bot.sandbox.slack.faults`),
hands the call to the method that plays it (`chat`, `conversations`, `views`, `steps`,
`socket_mode`), and records it. The workspace it plays (conversations, messages, people,
recorded calls) is `bot.sandbox.slack.workspace`; Block Kit that Slack would refuse is refused
(`bot.sandbox.slack.blockkit`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.sandbox.loopback import LoopbackServer
from bot.sandbox.slack.chat import ChatMethods
from bot.sandbox.slack.conversations import ConversationMethods
from bot.sandbox.slack.faults import FaultInjection, failure_headers
from bot.sandbox.slack.protocol import SlackError, text_arg
from bot.sandbox.slack.socket_mode import SocketMode
from bot.sandbox.slack.steps import StepMethods
from bot.sandbox.slack.views import ViewMethods
from bot.sandbox.slack.workspace import Hook, SlackCall, SlackWorkspace

_SHUTDOWN_TIMEOUT_S = 0.5
# Errors that Slack answers on a dead `response_url` with 404; the others with 400.
_DEAD_HOOK_ERRORS = frozenset({"invalid_url", "used_url", "expired_url"})
_JSON_ARGS = ("blocks", "attachments", "view", "metadata", "outputs")

_Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack(
    ChatMethods, ConversationMethods, ViewMethods, StepMethods, FaultInjection, LoopbackServer
):
    """Slack's Web API and response URLs, on a local aiohttp server, for one workspace.

    Point the bot's `AsyncWebClient(base_url=…)` (`SLACK_API_URL`) at `api_url`. Any token
    `xoxb-…` is accepted, and the `xwfp-…` token of a workflow step's execution; any app-level
    token `xapp-…` for `apps.connections.open` (Socket Mode: `socket_mode`). `clock`
    (seconds, monotonic) times trigger ids and response URLs. `chat.update`/`chat.delete` need a
    message the bot posted here; reactions and permalinks take any `ts`, so that events made up
    by a test work too. `latency_ms` is added to every Web API call, as a network's round trip
    would.
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
        SlackWorkspace.__init__(self, bot_user_id=bot_user_id, team_id=team_id, clock=clock)
        FaultInjection.__init__(self)
        LoopbackServer.__init__(self, host, port)
        self._latency_s = latency_ms / 1000
        #: Every connection the Web API was called over, by the caller's address and port.
        self.api_connections: set[tuple[str, int]] = set()
        self.socket_mode = SocketMode()
        self._methods: dict[str, _Handler] = {
            "apps.connections.open": lambda _args: self.socket_mode.connections_open(self.base_url),
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
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "functions.completeSuccess": self._functions_complete_success,
            "functions.completeError": self._functions_complete_error,
        }

    # -- lifecycle and response URLs ---------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._response_url)
        app.router.add_post("/control/trigger", self._control_trigger)
        app.router.add_post("/control/response-url", self._control_response_url)
        app.router.add_get("/control/posted", self._control_posted)
        self.socket_mode.add_routes(app)
        return app

    def runner_options(self) -> dict[str, Any]:
        return {"access_log": None, "shutdown_timeout": _SHUTDOWN_TIMEOUT_S}

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT/api/`: the Web API base URL for `AsyncWebClient(base_url=…)`."""
        return f"{self.base_url}/api/"

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
        self._hooks[hook_id] = Hook(channel, user, message_ts, ephemeral, self._clock())
        return f"{self.base_url}/hooks/{hook_id}"

    # -- HTTP --------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.transport is not None:
            peer = request.transport.get_extra_info("peername")
            self.api_connections.add((str(peer[0]), int(peer[1])))
        token: str | None = None
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        try:
            args = await _read_args(request)
            # A slow Slack has the whole call, and applies it even if the caller left meanwhile.
            await self._wait_if_held(method)
            if self._latency_s > 0:
                await asyncio.sleep(self._latency_s)
            token = _bearer(request) or text_arg(args, "token")
            args.pop("token", None)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            if token is None:
                raise SlackError("not_authed")
            if not self._valid_token(token, method):
                raise SlackError("invalid_auth")
            self._caller_token = token
            failure, fault = self._planned_failure(method)
            if failure is not None:
                status, headers = failure.status, failure_headers(failure)
                refusal = SlackError(failure.error)
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
        except SlackError as refusal:
            response = refusal.response
        self._record(SlackCall(method, args, token, response, status))
        return web.json_response(response, status=status, headers=headers)

    def _valid_token(self, token: str, method: str) -> bool:
        """Any bot token, or the token of a workflow step's execution that Slack issued; for
        `apps.connections.open`, any app-level token and nothing else."""
        if method == "apps.connections.open":
            return token.startswith("xapp-")
        return token.startswith("xoxb-") or any(
            token == execution.bot_access_token for execution in self._executions.values()
        )

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
                status, headers = failure.status, failure_headers(failure)
                raise SlackError(failure.error)
            hook = self._live_hook(request.match_info["hook"])
            if body is None:
                raise SlackError("invalid_payload")
            hook.uses += 1
            self._deliver(hook, args)
            response: dict[str, Any] = {"ok": True}
        except SlackError as refusal:
            response = refusal.response
            if status == 200:
                status = 404 if refusal.error in _DEAD_HOOK_ERRORS else 400
        self._record(SlackCall("response_url", args, None, response, status))
        return web.json_response(response, status=status, headers=headers)


async def _read_args(request: web.Request) -> dict[str, Any]:
    """The call's arguments: query string, then a JSON or form body; JSON-in-form decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise SlackError(f"invalid_{key}") from None
    return args


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
