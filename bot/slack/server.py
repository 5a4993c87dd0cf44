"""Running the bot: Socket Mode or HTTP (`SLACK_MODE`, or inferred from the tokens).

Start-up fails fast and in words: the settings the mode needs, the database, then `auth.test`.
Both modes answer `/health`, `/ready` and `/metrics` on HOST:PORT (in HTTP mode next to Slack's
`/slack/events`). SIGINT and SIGTERM stop the bot in every phase; in-flight checks get up to
DRAIN_TIMEOUT_S to finish (a second signal stops at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import signal
import sys
import time
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_internals import (
    run_async_bolt_app,
    send_async_response,
)
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.metrics import CONTENT_TYPE
from bot.settings import Settings
from bot.slack.app import (
    MissingSlackCredentials,
    Register,
    SlackMode,
    create_app,
    require_credentials,
    slack_mode,
)
from bot.slack.services import BotServices, Resume, TimedKind, describe

logger = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 30.0
HTTP_SHUTDOWN_TIMEOUT_S = 5.0
MAX_TIMESTAMP_SKEW_S = 300
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 60.0
REJECTION_LOG_EVERY_S = 10.0
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
# Slack's answers to a token that will never work: retrying them is pointless.
_FATAL_SLACK_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "account_inactive",
        "token_revoked",
        "token_expired",
    }
)
T = TypeVar("T")


class _RateLimitedLog:
    """At most one log line per reason every REJECTION_LOG_EVERY_S; the rest are counted."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, reason: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, float("-inf")) < REJECTION_LOG_EVERY_S:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        more = self._suppressed.pop(reason, 0)
        suffix = f" ({more} more like it since the last line)" if more else ""
        logger.warning(message + suffix, *args)


def verify_request(signing_secret: bytes, headers: Any, body: bytes) -> tuple[int, str] | None:
    """Why the raw `body` is not a genuine, fresh Slack request (HTTP status, reason), or None.

    Looks only at the headers and the bytes: nothing is parsed, not even decoded, before the
    signature holds. The signature is Slack's v0 scheme, as `slack_sdk.signature` computes it,
    but over the bytes (slack_sdk decodes the body first, which fails on non-UTF-8 bodies).
    """
    stamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not stamp or not signature:
        return 401, "unsigned"
    if not stamp.isascii() or not stamp.strip().isdigit() or len(stamp.strip()) > 12:
        return 400, "malformed_timestamp"
    if abs(time.time() - int(stamp)) > MAX_TIMESTAMP_SKEW_S:
        return 401, "stale_timestamp"
    if not signature.isascii():
        return 401, "bad_signature"
    base = b"v0:" + stamp.strip().encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return 401, "bad_signature"
    return None


def incomplete(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not something the bot can act on, or None when it is.

    Slack sends a form (slash commands; interactions as a JSON `payload` field) or JSON (Events
    API). The fields every listener relies on must be there with the right types.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return "not JSON"
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "no type"
        if data["type"] == "url_verification":
            return None if isinstance(data.get("challenge"), str) else "no challenge"
        if data["type"] == "event_callback":
            event = data.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return "no event"
            if not isinstance(data.get("team_id", ""), str):
                return "bad team_id"
            return None
        # Interactions come as a form's `payload`, never as a JSON body; Slack's own notices
        # (`app_rate_limited`) need no listener: acknowledged here, with a log line.
        return f"a JSON body of type {data['type'][:40]!r}"
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            return "payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "payload has no type"
        user = payload.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "payload has no user"
        team = payload.get("team")
        if team is not None and not isinstance(team, dict):
            return "payload has a bad team"
        for field in ("actions", "view", "channel", "container", "message", "state"):
            expected = list if field == "actions" else dict
            if field in payload and not isinstance(payload[field], expected):
                return f"payload has a bad {field}"
        return None
    if "command" in form:
        for field in ("user_id", "team_id", "channel_id"):
            if not form.get(field):
                return f"command without {field}"
        return None
    if form.get("ssl_check"):
        return None
    return "neither a command, an interaction nor an event"


def http_app(
    app: AsyncApp, services: BotServices | None = None, *, slack_events: bool = True
) -> web.Application:
    """The HTTP front: Slack's requests at POST /slack/events (unless `slack_events` is False,
    as for Socket Mode's probe port), GET /health, /ready and /metrics.

    With `services`, starting the server starts them (unless already started) and shutting it
    down drains their in-flight checks first.
    """
    secret = app._signing_secret.encode() if app._signing_secret else None
    rejections = _RateLimitedLog()

    async def events(request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        # Marked as being answered from its first byte: background work lets it go first.
        with services.tasks.acknowledging() if services else contextlib.nullcontext():
            response = await answer(request)
        if services is not None:
            services.metrics.ack_duration.observe(time.perf_counter() - arrived)
        return response

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        if secret is not None:
            refusal = verify_request(secret, request.headers, body)
            if refusal is not None:
                status, reason = refusal
                if services is not None:
                    services.metrics.rejected.labels(reason).inc()
                rejections.warning(reason, "refused a Slack request: %s", reason)
                return web.json_response({"ok": False, "error": reason}, status=status)
        why = incomplete(body, request.content_type)
        if why is not None:
            if services is not None:
                services.metrics.ignored.inc()
            rejections.warning("incomplete", "ignored a signed Slack request: %s", why)
            return web.Response(status=200)
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def health(_request: web.Request) -> web.Response:
        in_flight = len(services.tasks) if services else 0
        return web.json_response({"ok": True, "checks_in_flight": in_flight})

    async def ready(_request: web.Request) -> web.Response:
        if services is None:
            return web.json_response({"ready": True})
        verdict = await services.readiness()
        return web.json_response(verdict, status=200 if verdict["ready"] else 503)

    async def metrics(_request: web.Request) -> web.Response:
        if services is None:
            return web.Response(status=404)
        return web.Response(
            body=services.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE}
        )

    web_app = web.Application(client_max_size=1024 * 1024)
    if slack_events:
        web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/health", health)
    web_app.router.add_get("/ready", ready)
    web_app.router.add_get("/metrics", metrics)
    if services is not None:
        running = services

        async def start_services(_app: web.Application) -> None:
            if not running.started:
                await running.start()

        async def close_services(_app: web.Application) -> None:
            await running.aclose(DRAIN_TIMEOUT_S)

        web_app.on_startup.append(start_services)
        web_app.on_shutdown.append(close_services)
    return web_app


class _Stopped(Exception):
    """A signal arrived while waiting."""


class _SocketModeRefused(Exception):
    """Slack will never accept this app-level token."""


class _SocketModeClient(SocketModeClient):
    """slack_sdk's Socket Mode client, connecting with exponential back-off and one log line
    per failed attempt (instead of a traceback every few seconds), and giving up on a token
    Slack refuses."""

    async def issue_new_wss_url(self) -> str:
        response = await self.web_client.apps_connections_open(app_token=self.app_token)
        return str(response["url"])

    async def connect(self) -> None:
        attempt = 0
        delay = RECONNECT_FIRST_S
        while not self.closed:
            try:
                await self._connect_once()
                if attempt:
                    logger.info("Socket Mode: connected after %d failed attempts", attempt)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.closed:
                    return
                if isinstance(error, SlackApiError):
                    code = str(error.response.get("error"))
                    if code in _FATAL_SLACK_ERRORS:
                        raise _SocketModeRefused(code) from None
                attempt += 1
                self.wss_uri = None  # a fresh URL for the next attempt
                wait = min(delay, RECONNECT_MAX_S) * random.uniform(0.8, 1.2)  # noqa: S311
                logger.warning(
                    "Socket Mode: could not connect (attempt %d: %s); next try in %.0f s",
                    attempt,
                    _slack_error(error),
                    wait,
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _connect_once(self) -> None:
        old_session = self.current_session
        self.auto_reconnect_enabled = False
        if old_session is not None:
            with contextlib.suppress(Exception):
                await old_session.close()
        if self.aiohttp_client_session.closed and not self.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        if self.wss_uri is None:
            self.wss_uri = await self.issue_new_wss_url()
        self.current_session = await self.aiohttp_client_session.ws_connect(
            self.wss_uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
        self.stale = False
        await self.current_session.ping(f"sdk-ping-pong:{time.time()}".encode())
        if self.current_session_monitor is not None:
            self.current_session_monitor.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        if self.message_receiver is not None:
            self.message_receiver.cancel()
        self.message_receiver = asyncio.ensure_future(self.receive_messages())


def _slack_error(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack said {error.response.get('error')}"
    return describe(error)


def serve(
    settings: Settings,
    register: Register,
    resume: Resume | None = None,
    timed: Mapping[str, TimedKind] | None = None,
) -> int:
    """Run until SIGINT or SIGTERM; in-flight checks get time to finish on shutdown, `resume`
    finishes the checks a previous process left, and `timed` runs timed work as it comes due
    (see `BotServices`).

    Returns 0 after a clean stop, 2 when a setting or token is wrong, 1 when the database or
    Slack cannot be reached at start.
    """
    try:
        mode = require_credentials(settings)
    except MissingSlackCredentials as error:
        print(f"ecwid-connect: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_serve(settings, register, mode, resume, timed))


async def _serve(
    settings: Settings,
    register: Register,
    mode: SlackMode,
    resume: Resume | None,
    timed: Mapping[str, TimedKind] | None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            logger.warning("%s again: stopping now, without waiting for checks", sig.name)
            force.set()
            return
        logger.info("%s: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    _, why = slack_mode(settings)
    label = "Socket Mode" if mode == "socket" else "HTTP mode"
    logger.info("Starting in %s (%s)", label, why)
    if not settings.collects_from_ecwid:
        logger.warning(
            "COLLECTION_HOSTS does not include %s, where Ecwid publishes Personal collections: "
            "every real collection URL will be refused as not Ecwid's",
            "ecwid-api-playground.s3.amazonaws.com",
        )
    services = BotServices(settings)
    runner: web.AppRunner | None = None
    socket: _SocketModeClient | None = None
    try:
        try:
            await _unless(stop, services.start())
        except _Stopped:
            return EXIT_OK
        except Exception as error:
            where = "DATABASE_URL" if settings.database_url else f"DATA_DIR={settings.data_dir}"
            logger.error("cannot open the database (%s): %s", where, describe(error))
            return EXIT_FAILED

        app = create_app(settings, register, services=services, resume=resume, timed=timed)
        try:
            identity = await _unless(stop, services.authenticate(app.client))
        except _Stopped:
            return EXIT_OK
        except SlackApiError as error:
            logger.error(
                "Slack refused SLACK_BOT_TOKEN (auth.test: %s): copy the Bot User OAuth Token "
                "again from your Slack app's page → OAuth & Permissions",
                error.response.get("error"),
            )
            return EXIT_CONFIG
        except Exception as error:
            logger.error(
                "cannot reach Slack at %s (SLACK_API_URL): %s",
                settings.slack_api_url,
                describe(error),
            )
            return EXIT_FAILED
        logger.info(
            "Slack: signed in as @%s (%s) in workspace %s (%s)",
            identity.user,
            identity.user_id,
            identity.team,
            identity.team_id,
        )

        runner = web.AppRunner(
            http_app(app, services, slack_events=mode == "http"),
            access_log=None,
            shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.host, settings.port).start()
        except OSError as error:
            logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, error)
            return EXIT_FAILED
        where = f"http://{settings.host}:{settings.port}"
        if mode == "http":
            logger.info("Listening for Slack on %s%s", where, EVENTS_PATH)
        else:
            logger.info("Probes (/health, /ready, /metrics) on %s", where)
            assert settings.slack_app_token is not None
            socket = _socket_client(app, services, settings.slack_app_token.get_secret_value())
            try:
                await _unless(stop, socket.connect())
            except _Stopped:
                return EXIT_OK
            except _SocketModeRefused as refused:
                logger.error(
                    "Slack refused SLACK_APP_TOKEN (%s): create an app-level token with the "
                    "connections:write scope on your Slack app's page → Basic Information",
                    refused,
                )
                return EXIT_CONFIG
            logger.info("Slack bot connected in Socket Mode")
        await stop.wait()
        return EXIT_OK
    finally:
        await _shut_down(services, runner, socket, force)


async def _shut_down(
    services: BotServices,
    runner: web.AppRunner | None,
    socket: _SocketModeClient | None,
    force: asyncio.Event,
) -> None:
    if socket is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await socket.close()  # type: ignore[no-untyped-call]
    try:
        if runner is not None:
            await _unless(force, runner.cleanup())  # drains the services' checks
        else:
            await _unless(force, services.aclose(DRAIN_TIMEOUT_S))
    except _Stopped:
        logger.warning("stopped without waiting for the checks in flight")


def _socket_client(app: AsyncApp, services: BotServices, app_token: str) -> _SocketModeClient:
    client = _SocketModeClient(
        app_token=app_token,
        logger=logging.getLogger("slack_sdk.socket_mode"),
        web_client=app.client,
        ping_interval=10,
    )

    async def handle(socket: SocketModeClient, request: SocketModeRequest) -> None:
        started = time.time()
        with services.tasks.acknowledging():
            response = await run_async_bolt_app(app, request)
            await send_async_response(socket, request, response, started)
        services.metrics.ack_duration.observe(time.time() - started)

    client.socket_mode_request_listeners.append(handle)  # type: ignore[arg-type]
    return client


async def _unless(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result, unless `stop` is set first: then `work` is cancelled, `_Stopped` raised."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise _Stopped
