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

import httpx

from bench.ack import _percentile, request_bodies, served_bot_and_bare, timed_post
from bench.standins import StandIns, standins_process
from bot.engine.http_client import new_http_client

WAVE = 2  # submissions arriving together
WAVE_EVERY_S = 0.2  # 10 a second, sustained
WAVES = 25
SERIES = 3
TARGET = 1.3


async def _series(
    http: httpx.AsyncClient, url: str, secret: str, contents: list[list[bytes]]
) -> list[float]:
    """Send one wave every `WAVE_EVERY_S` without waiting for the earlier ones; every ack time."""

    loop = asyncio.get_running_loop()
    start = loop.time()
    sent: list[asyncio.Task[float]] = []
    for number, wave in enumerate(contents):
        await asyncio.sleep(max(0.0, start + number * WAVE_EVERY_S - loop.time()))
        sent += [asyncio.create_task(timed_post(http, url, secret, c)) for c in wave]
    return list(await asyncio.gather(*sent))


async def _measure(standins: StandIns) -> list[str]:
    samples: dict[str, list[float]] = {"bot": [], "bare": []}
    in_flight: list[int] = []
    async with served_bot_and_bare(standins) as (bot, bare_url), new_http_client() as http:
        submit = request_bodies(standins, http)["submit"]
        serial = 0

        async def contents() -> list[list[bytes]]:
            nonlocal serial
            waves = []
            for _ in range(WAVES):
                waves.append([await submit(serial + n) for n in range(WAVE)])
                serial += WAVE
            return waves

        for warm_up in (bot.url, bare_url):  # auth.test, pools, caches
            await _series(http, warm_up, bot.secret, (await contents())[:2])
            await bot.services.tasks.drain(60)
        for number in range(SERIES):
            order = [("bot", bot.url), ("bare", bare_url)]
            for name, url in order if number % 2 else order[::-1]:
                waves = await contents()
                samples[name] += await _series(http, url, bot.secret, waves)
                if name == "bot":
                    in_flight.append(len(bot.services.tasks))
                await bot.services.tasks.drain(60)
    bot_acks, bare_acks = samples["bot"], samples["bare"]
    p50, p99 = statistics.median(bot_acks) * 1000, _percentile(bot_acks, 0.99) * 1000
    b50, b99 = statistics.median(bare_acks) * 1000, _percentile(bare_acks, 0.99) * 1000
    return [
        f"Time to ack under sustained load: {WAVE} modal submissions every"
        f" {WAVE_EVERY_S * 1000:g} ms, {WAVES} waves not drained in between, {SERIES} series"
        f" each, bot vs bare AsyncApp ({len(bot_acks)} acks each, ms)",
        f"  bot p50 {p50:6.1f}  p99 {p99:6.1f} | bare p50 {b50:6.1f}  p99 {b99:6.1f}"
        f" | ratio p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f} (target p99 ≤ {TARGET:g});"
        f" background tasks still running when a series ended: {statistics.median(in_flight):g}",
    ]


def run() -> list[str]:
    with standins_process() as standins:
        return asyncio.run(_measure(standins))
