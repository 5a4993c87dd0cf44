"""The bot's process: start-up, running in Socket Mode or HTTP, and shutting down.

Start-up fails fast and in words: the settings the mode needs (`SLACK_MODE`, or inferred from
the tokens), the database, then `auth.test`. Both modes answer `/health`, `/ready` and
`/metrics` on HOST:PORT (`bot.slack.http_app`; in HTTP mode next to Slack's `/slack/events`,
in Socket Mode beside the WebSocket of `bot.slack.socket_mode`). SIGINT and SIGTERM stop the
bot in every phase; in-flight checks get up to DRAIN_TIMEOUT_S to finish (a second signal
stops at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from aiohttp import web
from slack_sdk.errors import SlackApiError

from bot.settings import Settings
from bot.slack.app import (
    MissingSlackCredentials,
    Register,
    SlackMode,
    create_app,
    require_credentials,
    slack_mode,
)
from bot.slack.http_app import DRAIN_TIMEOUT_S, EVENTS_PATH, http_app
from bot.slack.layouts import AnswerLayouts
from bot.slack.services import BotServices, TimedKind, describe
from bot.slack.socket_mode import (
    ResilientSocketModeClient,
    SocketModeRefused,
    socket_mode_client,
)

logger = logging.getLogger(__name__)
HTTP_SHUTDOWN_TIMEOUT_S = 5.0
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
T = TypeVar("T")


class _Stopped(Exception):
    """A signal arrived while waiting."""


def serve(
    settings: Settings,
    register: Register,
    layouts: AnswerLayouts,
    timed: Mapping[str, TimedKind] | None = None,
) -> int:
    """Run until SIGINT or SIGTERM, answering in `layouts`; in-flight checks get time to finish
    on shutdown, the checks a previous process left are finished, and `timed` runs timed work
    as it comes due (see `BotServices`).

    Returns 0 after a clean stop, 2 when a setting or token is wrong, 1 when the database or
    Slack cannot be reached at start.
    """
    try:
        mode = require_credentials(settings)
    except MissingSlackCredentials as error:
        print(f"ecwid-connect: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_serve(settings, register, mode, layouts, timed))


async def _serve(
    settings: Settings,
    register: Register,
    mode: SlackMode,
    layouts: AnswerLayouts,
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
    socket: ResilientSocketModeClient | None = None
    try:
        try:
            await _unless(stop, services.start())
        except _Stopped:
            return EXIT_OK
        except Exception as error:
            where = "DATABASE_URL" if settings.database_url else f"DATA_DIR={settings.data_dir}"
            logger.error("cannot open the database (%s): %s", where, describe(error))
            return EXIT_FAILED

        app = create_app(settings, register, layouts, services=services, timed=timed)
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
            socket = socket_mode_client(app, services, settings.slack_app_token.get_secret_value())
            try:
                await _unless(stop, socket.connect())
            except _Stopped:
                return EXIT_OK
            except SocketModeRefused as refused:
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
    socket: ResilientSocketModeClient | None,
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
