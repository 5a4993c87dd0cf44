"""Answer first: from a modal submission to the answer landing in its thread, minus the check.

One submission at a time over signed HTTP to the bot; the Slack stand-in notes when the answer's
`chat.postMessage` reaches it. Interleaved with each: the same check run alone through the bot's
checker, and one Slack call through the bot's Web API client (the round trip that an answer must
pay at least once). What remains after the check is what the answer path adds: the target is one
Slack round trip plus under 10 ms. Only measured here; the answer path is not changed.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.ack import request_bodies, served_bot, signed_form_headers
from bench.standins import StandIns
from bot.engine.check import new_http_client
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.webapi import FakeSlack

ROUNDS = 15
CHANNEL = "C0BENCH"


async def _measure() -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"answer": [], "check": [], "slack": []}
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        standins = StandIns.of(sandbox, slack)
        async with served_bot(standins) as bot, new_http_client() as http:
            submit = request_bodies(standins, http)["submit"]

            async def answer(number: int) -> float:
                content = await submit(number)
                since = len(slack.calls)
                headers = signed_form_headers(content, bot.secret)
                started = time.perf_counter()
                response = await http.post(bot.url, content=content, headers=headers)
                assert response.status_code == 200, response.text
                await slack.wait_for(
                    lambda call: (
                        call.method == "chat.postMessage"
                        and call.args.get("thread_ts") == f"1.{number}"
                    ),
                    timeout=30,
                    since=since,
                )
                elapsed = time.perf_counter() - started
                await bot.services.tasks.drain(30)  # the decorations after the answer end
                return elapsed

            async def check() -> float:
                started = time.perf_counter()
                await bot.services.checker.check_text(standins.connected_collection_url)
                return time.perf_counter() - started

            async def slack_call() -> float:
                started = time.perf_counter()
                await bot.app.client.chat_postMessage(channel=CHANNEL, text="round trip")
                return time.perf_counter() - started

            for number in range(3):  # auth.test, pools, caches
                await answer(100_000 + number)
            for number in range(ROUNDS):
                samples["answer"].append(await answer(number))
                samples["check"].append(await check())
                samples["slack"].append(await slack_call())
    return samples


def run() -> list[str]:
    samples = asyncio.run(_measure())
    answer, check, slack = (statistics.median(samples[k]) * 1000 for k in samples)
    added = answer - check
    return [
        f"Answer first: modal submission → answer in the thread, medians of {ROUNDS}"
        " (stand-ins in this process, no added latency)",
        f"  submission → answer {answer:.1f} ms; the check alone {check:.1f} ms;"
        f" one Slack call {slack:.1f} ms",
        f"  → the answer path adds {added:.1f} ms to the check = {added / slack:.1f} Slack calls"
        f" ({added - slack:+.1f} ms over one; target: one Slack round trip plus under 10 ms)",
    ]
