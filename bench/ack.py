"""Time to acknowledge: the bot against a bare AsyncApp that only acks, side by side.

Slack gives every slash command, button and modal submission 3 seconds. The bot must not spend
them: each round sends 50 signed requests of one kind at once to both apps (same machine, same
HTTP server code, same Slack stand-in) and times the HTTP answer, which carries the ack.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_bolt.async_app import AsyncAck, AsyncApp

from bench.standins import StandIns, standins_process
from bot.destination import Destination
from bot.engine.http_client import new_http_client
from bot.sandbox.loopback import AppServer
from bot.sandbox.slack.user import sign, state_values
from bot.settings import Settings
from bot.slack.app import create_app, slack_client
from bot.slack.http_app import EVENTS_PATH, http_app
from bot.slack.services import BotServices
from handlers import ANSWER_LAYOUTS, register_all
from handlers.blocks.check import (
    CHECK_MODAL_CALLBACK,
    OPEN_CHECK_MODAL_ACTION,
    URL_BLOCK,
    URL_INPUT,
    check_modal,
)
from handlers.commands import COMMAND

CONCURRENCY = 50
ROUNDS = 8
CHANNEL = "C0BENCH"
Body = Callable[[int], Awaitable[bytes]]


def bare_app(settings: Settings) -> AsyncApp:
    """The baseline: the same entry points, each only acknowledged, Bolt as it comes (it looks
    for the ack every 10 ms; the bot answers as its listener returns)."""
    secret = settings.slack_signing_secret
    assert secret is not None
    app = AsyncApp(client=slack_client(settings), signing_secret=secret.get_secret_value())

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    app.command(COMMAND)(only_ack)
    app.action(OPEN_CHECK_MODAL_ACTION)(only_ack)
    app.view(CHECK_MODAL_CALLBACK)(only_ack)
    return app


def _interactive(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def request_bodies(standins: StandIns, http: httpx.AsyncClient) -> dict[str, Body]:
    """Signed-request bodies for each entry point; `n` makes each request distinct."""
    user = {"id": "U0BENCH", "username": "bench", "team_id": "T0001"}

    async def control(what: str, **query: str) -> str:
        response = await http.post(f"{standins.slack_base_url}/control/{what}", params=query)
        value: str = next(iter(response.json().values()))
        return value

    async def slash(n: int) -> bytes:
        return urlencode(
            {
                "command": COMMAND,
                "text": "",
                "user_id": "U0BENCH",
                "channel_id": CHANNEL,
                "team_id": "T0001",
                "response_url": await control("response-url", channel=CHANNEL),
                "trigger_id": await control("trigger", user="U0BENCH"),
            }
        ).encode()

    async def button(n: int) -> bytes:
        return _interactive(
            {
                "type": "block_actions",
                "user": user,
                "team": {"id": "T0001"},
                "channel": {"id": CHANNEL},
                "container": {"type": "message", "channel_id": CHANNEL, "message_ts": f"1.{n}"},
                "message": {"ts": f"1.{n}"},
                "trigger_id": await control("trigger", user="U0BENCH"),
                "response_url": await control("response-url", channel=CHANNEL),
                "actions": [{"action_id": OPEN_CHECK_MODAL_ACTION, "type": "button"}],
            }
        )

    async def submit(n: int) -> bytes:
        destination = Destination(channel=CHANNEL, thread_ts=f"1.{n}", requester="U0BENCH")
        return _interactive(
            {
                "type": "view_submission",
                "user": user,
                "team": {"id": "T0001"},
                "view": {
                    "id": f"VBENCH{n}",
                    "type": "modal",
                    "callback_id": CHECK_MODAL_CALLBACK,
                    "private_metadata": destination.to_metadata(),
                    # The modal's whole state, as Slack sends it: a form without all its inputs is
                    # refused as one from an earlier version.
                    "state": {
                        "values": state_values(
                            check_modal(destination)["blocks"],
                            {URL_BLOCK: {URL_INPUT: standins.connected_collection_url}},
                        )
                    },
                },
            }
        )

    return {"slash command": slash, "button": button, "submit": submit}


@asynccontextmanager
async def _serve(app: AsyncApp, services: BotServices | None = None) -> AsyncIterator[str]:
    """`app` behind the bot's HTTP server on a free loopback port; its events URL."""
    async with AppServer(http_app(app, services)) as server:
        yield f"{server.base_url}{EVENTS_PATH}"


@dataclass(frozen=True)
class ServedBot:
    """The bot as the benchmarks drive it: its settings, services and app, served at `url`."""

    settings: Settings
    secret: str
    services: BotServices
    app: AsyncApp
    url: str


@asynccontextmanager
async def served_bot(standins: StandIns) -> AsyncIterator[ServedBot]:
    """The whole bot (every listener, its own services) against `standins`, over HTTP."""
    settings = standins.bot_settings()
    assert settings.slack_signing_secret is not None
    services = BotServices(settings)
    app = create_app(settings, register_all, ANSWER_LAYOUTS, services=services)
    async with _serve(app, services) as url:
        yield ServedBot(
            settings, settings.slack_signing_secret.get_secret_value(), services, app, url
        )


@asynccontextmanager
async def served_bot_and_bare(standins: StandIns) -> AsyncIterator[tuple[ServedBot, str]]:
    """The bot and, with the same settings, the bare app that only acks (its URL)."""
    async with served_bot(standins) as bot, _serve(bare_app(bot.settings)) as bare_url:
        yield bot, bare_url


def signed_form_headers(content: bytes, secret: str) -> dict[str, str]:
    """Slack's signature headers for a form-encoded body, and its content type."""
    return sign(content, secret) | {"Content-Type": "application/x-www-form-urlencoded"}


async def timed_post(http: httpx.AsyncClient, url: str, secret: str, content: bytes) -> float:
    """Send one signed request; seconds until its answer (the ack), which must be a 200."""
    headers = signed_form_headers(content, secret)
    started = time.perf_counter()
    response = await http.post(url, content=content, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


async def _round(
    http: httpx.AsyncClient, url: str, secret: str, body: Body, base: int
) -> list[float]:
    contents = [await body(base + n) for n in range(CONCURRENCY)]
    return list(
        await asyncio.gather(*(timed_post(http, url, secret, content) for content in contents))
    )


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _measure(standins: StandIns) -> list[str]:
    lines = [
        f"Time to ack, {CONCURRENCY} concurrent requests × {ROUNDS} rounds,"
        " bot vs a bare AsyncApp that only acks (ms; Slack and Ecwid stand-ins in another process)"
    ]
    async with served_bot_and_bare(standins) as (bot, bare_url), new_http_client() as http:
        for kind, body in request_bodies(standins, http).items():
            samples: dict[str, list[float]] = {"bot": [], "bare": []}
            for number in range(ROUNDS + 1):  # the first round warms up (auth.test, pools)
                # Alternate who goes first, so neither always meets a busier machine.
                order = [("bot", bot.url), ("bare", bare_url)]
                for name, url in order if number % 2 else order[::-1]:
                    times = await _round(http, url, bot.secret, body, number * 1000)
                    if number:
                        samples[name] += times
                    await bot.services.tasks.drain(30)  # background work ends between rounds
            lines.append(_line(kind, samples["bot"], samples["bare"]))
    return lines


def _line(kind: str, bot: list[float], bare: list[float]) -> str:
    p50, p99 = statistics.median(bot) * 1000, _percentile(bot, 0.99) * 1000
    b50, b99 = statistics.median(bare) * 1000, _percentile(bare, 0.99) * 1000
    return (
        f"  {kind:<14} bot p50 {p50:6.1f}  p99 {p99:6.1f} | bare p50 {b50:6.1f}  p99 {b99:6.1f}"
        f" | ratio p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f} (target ≤ 1.5; Slack allows 3000)"
    )


def run() -> list[str]:
    with standins_process() as standins:
        return asyncio.run(_measure(standins))
