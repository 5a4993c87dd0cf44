"""The bot's HTTP application: Slack's requests at POST /slack/events, through the request
gate (`bot.slack.gate`) to Bolt, and the probes an orchestrator reads (/health, /ready,
/metrics). Socket Mode serves the probes only."""

from __future__ import annotations

import contextlib
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.metrics import CONTENT_TYPE
from bot.slack.gate import RequestGate
from bot.slack.services import BotServices

EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 1024 * 1024


def http_app(
    app: AsyncApp, services: BotServices | None = None, *, slack_events: bool = True
) -> web.Application:
    """The HTTP front: Slack's requests at POST /slack/events (unless `slack_events` is False,
    as for Socket Mode's probe port), GET /health, /ready and /metrics.

    With `services`, starting the server starts them (unless already started) and shutting it
    down drains their in-flight checks first (up to DRAIN_TIMEOUT_S).
    """
    gate = RequestGate(app._signing_secret, services.metrics if services else None)

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
        refusal = gate.refusal(request.headers, body, request.content_type)
        if refusal is not None:
            return refusal
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
        await services.refresh_gauges()
        return web.Response(
            body=services.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE}
        )

    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
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
