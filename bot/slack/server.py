"""Running the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.settings import Settings
from bot.slack.app import MissingSlackCredentials, Register, create_app, require_credentials
from bot.slack.services import BotServices, Resume

logger = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 30.0


def http_app(app: AsyncApp, services: BotServices | None = None) -> web.Application:
    """The HTTP front: Slack's requests at POST /slack/events, a health check at GET /health.

    With `services`, shutting the server down drains their in-flight checks first.
    """

    async def slack_events(request: web.Request) -> web.Response:
        with services.tasks.acknowledging() if services else contextlib.nullcontext():
            bolt_response = await app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(bolt_response)

    async def health(_request: web.Request) -> web.Response:
        in_flight = len(services.tasks) if services else 0
        return web.json_response({"ok": True, "checks_in_flight": in_flight})

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/health", health)
    if services is not None:
        running = services

        async def start_services(_app: web.Application) -> None:
            await running.start()

        async def close_services(_app: web.Application) -> None:
            await running.aclose(DRAIN_TIMEOUT_S)

        web_app.on_startup.append(start_services)
        web_app.on_shutdown.append(close_services)
    return web_app


def serve(settings: Settings, register: Register, resume: Resume | None = None) -> int:
    """Run until interrupted; in-flight checks get time to finish on shutdown, and `resume`
    finishes those a previous process left (see `BotServices`)."""
    socket_mode = settings.slack_app_token is not None
    try:
        require_credentials(settings, socket_mode=socket_mode)
    except MissingSlackCredentials as error:
        print(f"ecwid-connect: {error}", file=sys.stderr)
        return 2
    if socket_mode:
        asyncio.run(_serve_socket_mode(settings, register, resume))
        return 0
    services = BotServices(settings)
    app = create_app(settings, register, services=services, resume=resume)
    logger.info("Slack bot listening on http://0.0.0.0:%d%s", settings.port, EVENTS_PATH)
    web.run_app(
        http_app(app, services), port=settings.port, print=None, shutdown_timeout=DRAIN_TIMEOUT_S
    )
    return 0


async def _serve_socket_mode(settings: Settings, register: Register, resume: Resume | None) -> None:
    services = BotServices(settings)
    await services.start()
    app = create_app(settings, register, services=services, resume=resume)
    assert settings.slack_app_token is not None
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    logger.info("Slack bot connected in Socket Mode")
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await services.aclose(DRAIN_TIMEOUT_S)
