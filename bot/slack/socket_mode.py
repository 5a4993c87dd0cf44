"""Socket Mode: the connection to Slack over a WebSocket, with back-off and plain log lines.

slack_sdk's client reconnects on its own, but logs a traceback every few seconds while Slack
cannot be reached and keeps retrying a token Slack will never accept. Here each failed attempt
is one log line, the pause grows to RECONNECT_MAX_S, and a refused app-level token stops the
process (`SocketModeRefused`). Each request is dispatched to Bolt like one over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp
from slack_bolt.adapter.socket_mode.async_internals import (
    run_async_bolt_app,
    send_async_response,
)
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.slack.services import BotServices, describe

logger = logging.getLogger(__name__)
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 60.0
# Slack's answers to a token that will never work: retrying them is pointless.
FATAL_SLACK_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "account_inactive",
        "token_revoked",
        "token_expired",
    }
)


class SocketModeRefused(Exception):
    """Slack will never accept this app-level token."""


class ResilientSocketModeClient(SocketModeClient):
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
                    if code in FATAL_SLACK_ERRORS:
                        raise SocketModeRefused(code) from None
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


def socket_mode_client(
    app: AsyncApp, services: BotServices, app_token: str
) -> ResilientSocketModeClient:
    """A Socket Mode client for `app_token` that hands each request to `app`, marked as being
    acknowledged (background work lets it go first) and timed for the metrics."""
    client = ResilientSocketModeClient(
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
