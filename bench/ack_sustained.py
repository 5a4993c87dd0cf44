"""Time to ack under sustained load: submissions keep arriving while earlier checks still run.

`bench.ack` drains the background work between its rounds. Here the bot gets a steady stream of
modal submissions (a wave every `WAVE_EVERY_S`) for `WAVES` waves, never drained in between, so
each wave's acks compete with the checks, answers and recording of the waves before it. The bare
AsyncApp that only acks gets the same stream. The two take turns, `SERIES` series each, order
alternating, the bot's work drained before the bare app's turn (else the bare app would pay for
it); p50 and p99 over every ack of every series.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from bench.ack import _percentile, _serve, bare_app, request_bodies
from bench.standins import StandIns, standins_process
from bot.engine.check import new_http_client
from bot.sandbox.slack.user import sign
from bot.slack.app import create_app
from bot.slack.services import BotServices
from handlers import register_all

WAVE = 2  # submissions arriving together
WAVE_EVERY_S = 0.2  # 10 a second, sustained
WAVES = 25
SERIES = 3
TARGET = 1.3


async def _series(
    http: httpx.AsyncClient, url: str, secret: str, contents: list[list[bytes]]
) -> list[float]:
    """Send one wave every `WAVE_EVERY_S` without waiting for the earlier ones; every ack time."""

    async def one(content: bytes) -> float:
        headers = sign(content, secret) | {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        response = await http.post(url, content=content, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed

    loop = asyncio.get_running_loop()
    start = loop.time()
    sent: list[asyncio.Task[float]] = []
    for number, wave in enumerate(contents):
        await asyncio.sleep(max(0.0, start + number * WAVE_EVERY_S - loop.time()))
        sent += [asyncio.create_task(one(content)) for content in wave]
    return list(await asyncio.gather(*sent))


async def _measure(standins: StandIns) -> list[str]:
    settings = standins.bot_settings()
    assert settings.slack_signing_secret is not None
    secret = settings.slack_signing_secret.get_secret_value()
    services = BotServices(settings)
    bot_runner, bot_url = await _serve(
        create_app(settings, register_all, services=services), services
    )
    bare_runner, bare_url = await _serve(bare_app(settings))
    samples: dict[str, list[float]] = {"bot": [], "bare": []}
    in_flight: list[int] = []
    try:
        async with new_http_client() as http:
            submit = request_bodies(standins, http)["submit"]
            serial = 0

            async def contents() -> list[list[bytes]]:
                nonlocal serial
                waves = []
                for _ in range(WAVES):
                    waves.append([await submit(serial + n) for n in range(WAVE)])
                    serial += WAVE
                return waves

            for warm_up in (bot_url, bare_url):  # auth.test, pools, caches
                await _series(http, warm_up, secret, (await contents())[:2])
                await services.tasks.drain(60)
            for number in range(SERIES):
                order = [("bot", bot_url), ("bare", bare_url)]
                for name, url in order if number % 2 else order[::-1]:
                    waves = await contents()
                    samples[name] += await _series(http, url, secret, waves)
                    if name == "bot":
                        in_flight.append(len(services.tasks))
                    await services.tasks.drain(60)
    finally:
        await bot_runner.cleanup()
        await bare_runner.cleanup()
    bot, bare = samples["bot"], samples["bare"]
    p50, p99 = statistics.median(bot) * 1000, _percentile(bot, 0.99) * 1000
    b50, b99 = statistics.median(bare) * 1000, _percentile(bare, 0.99) * 1000
    return [
        f"Time to ack under sustained load: {WAVE} modal submissions every"
        f" {WAVE_EVERY_S * 1000:g} ms, {WAVES} waves not drained in between, {SERIES} series"
        f" each, bot vs bare AsyncApp ({len(bot)} acks each, ms)",
        f"  bot p50 {p50:6.1f}  p99 {p99:6.1f} | bare p50 {b50:6.1f}  p99 {b99:6.1f}"
        f" | ratio p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f} (target p99 ≤ {TARGET:g});"
        f" background tasks still running when a series ended: {statistics.median(in_flight):g}",
    ]


def run() -> list[str]:
    with standins_process() as standins:
        return asyncio.run(_measure(standins))
