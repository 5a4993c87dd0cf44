"""Answer first: from a modal submission to the answer landing in its thread, minus the check.

One submission at a time over signed HTTP to the bot; the Slack stand-in, in a process of its own
with the Ecwid sandbox (`bench.standins`), notes when the answer's `chat.postMessage` is done
(`time.perf_counter()`, one clock for every process). Interleaved with each: the same check run
alone through the bot's checker, and one Slack call through the bot's Web API client, posting
the same answer in a thread (the round trip that an answer must pay at least once). What
remains after the check is what the answer path adds: the target is one Slack round trip plus
under 10 ms. The journal, the 👀 and the history row run beside the check and the post or after
them: without delay what they add is their CPU; with a round trip like a real network's, they
run while the network is waited for, as in production.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.ack import request_bodies, served_bot, signed_form_headers
from bench.standins import StandIns, standins_process
from bot.destination import Destination
from bot.engine.http_client import new_http_client
from bot.engine.report import CheckReport
from handlers.blocks.check import result_message

ROUNDS = 15
CHANNEL = "C0BENCH"
# Without delay the CPU of what runs beside the check and the post shows in full; with a round
# trip like a real network's, it runs while the network is waited for, as in production.
LATENCIES_MS = (0.0, 50.0)


async def _measure(standins: StandIns) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"answer": [], "check": [], "slack": []}
    async with served_bot(standins) as bot, new_http_client() as http:
        submit = request_bodies(standins, http)["submit"]

        async def answer(number: int) -> float:
            content = await submit(number)
            headers = signed_form_headers(content, bot.secret)
            started = time.perf_counter()
            response = await http.post(bot.url, content=content, headers=headers)
            assert response.status_code == 200, response.text
            posted = await http.get(
                f"{standins.slack_base_url}/control/posted",
                params={"thread_ts": f"1.{number}"},
                timeout=60,
            )
            assert posted.status_code == 200, posted.text
            await bot.services.tasks.drain(30)  # the decorations after the answer end
            return float(posted.json()["done_at"]) - started

        reports: list[CheckReport] = []

        async def check() -> float:
            started = time.perf_counter()
            reports.append(await bot.services.checker.check_text(standins.connected_collection_url))
            return time.perf_counter() - started

        async def slack_call() -> float:
            destination = Destination(channel=CHANNEL, thread_ts="1.0", requester="U0BENCH")
            text, blocks = result_message(reports[-1], destination)
            started = time.perf_counter()
            await bot.app.client.chat_postMessage(
                channel=CHANNEL, thread_ts="1.0", text=text, blocks=blocks
            )
            return time.perf_counter() - started

        for number in range(3):  # auth.test, pools, caches
            await answer(100_000 + number)
        for number in range(ROUNDS):
            samples["answer"].append(await answer(number))
            samples["check"].append(await check())
            samples["slack"].append(await slack_call())
    return samples


def run() -> list[str]:
    lines = [
        f"Answer first: modal submission → answer in the thread, medians of {ROUNDS}"
        " (stand-ins in another process)"
    ]
    for latency_ms in LATENCIES_MS:
        with standins_process(latency_ms) as standins:
            samples = asyncio.run(_measure(standins))
        answer, check, slack = (statistics.median(samples[k]) * 1000 for k in samples)
        added = answer - check
        lines += [
            f"  {latency_ms:g} ms round trip to Slack, S3 and Ecwid: submission → answer"
            f" {answer:.1f} ms; the check alone {check:.1f} ms; one Slack call {slack:.1f} ms",
            f"    → the answer path adds {added:.1f} ms to the check ="
            f" {added / slack:.1f} Slack calls ({added - slack:+.1f} ms over one;"
            " target: one Slack round trip plus under 10 ms)",
        ]
    return lines
