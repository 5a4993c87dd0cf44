"""The leak guard's cost: an ordinary 40 KB message against a short one, and the time to warn.

Every channel message the bot is in passes through the matcher, so a long ordinary message must
cost what a short one does. Measured twice, interleaved, medians compared: the matcher alone,
and the whole signed event over HTTP to the running bot (its answer is Slack's ack). Then the
time from a pasted secret's event to its ephemeral warning in the Slack stand-in (target: 2 s).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from bot.engine.leaks import MAX_MESSAGE_CHARS, spot_secrets
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.stage import Stage, running_stage

MATCHER_ROUNDS = 2000
EVENT_ROUNDS = 200
WARNINGS = 20
CHANNEL = "C0BENCH"
SHORT = "Thanks, the migration of products looks fine; orders next week?"
# Ordinary prose, as long as Slack lets a message be: words, numbers, links, punctuation.
_PROSE = (
    "Hi team, order 100234 shipped today; see https://example.com/help/orders.html and "
    "the notes from Monday. Customers asked about shipping to Canada (again), refunds, "
    "and whether the new catalogue goes live on the 14th. "
)
LONG = (_PROSE * (MAX_MESSAGE_CHARS // len(_PROSE) + 1))[:MAX_MESSAGE_CHARS]


def _matcher(stage_hosts: Any) -> tuple[float, float]:
    """Median µs of `spot_secrets` on the short and the long message, interleaved."""
    short, long = [], []
    for _ in range(MATCHER_ROUNDS):
        for text, into in ((SHORT, short), (LONG, long)):
            started = time.perf_counter()
            assert spot_secrets(text, stage_hosts) is None
            into.append(time.perf_counter() - started)
    return statistics.median(short) * 1e6, statistics.median(long) * 1e6


def _message(user: SlackUser, text: str, number: int) -> tuple[dict[str, Any], str]:
    """An ordinary channel message by `user` (Slack's `message` event) and its event ID."""
    ts = f"1700{number:06d}.000100"
    event = {
        "type": "message",
        "user": user.user_id,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": CHANNEL,
        "channel_type": "channel",
    }
    return event, f"EvBENCH{number:06d}"


async def _events(stage: Stage, user: SlackUser) -> tuple[float, float]:
    """Median ms from sending a signed ordinary message to the bot's answer, short and long."""
    event, event_id = _message(user, SHORT, 0)
    await user.send_event(event, event_id=event_id)  # Bolt's one auth.test
    short, long = [], []
    for number in range(1, EVENT_ROUNDS + 1):
        for text, into in ((SHORT, short), (LONG, long)):
            event, event_id = _message(user, text, number * 2 + (text is LONG))
            started = time.perf_counter()
            response = await user.send_event(event, event_id=event_id)
            into.append(time.perf_counter() - started)
            assert response.status_code == 200
    assert not stage.slack.calls_to("chat.postEphemeral"), "an ordinary message was warned about"
    return statistics.median(short) * 1000, statistics.median(long) * 1000


async def _time_to_warn(stage: Stage, user: SlackUser) -> float:
    """Median seconds from a pasted token's event to its warning at Slack."""
    token = stage.sandbox.store("connected").token
    delays = []
    for number in range(WARNINGS):
        event, event_id = _message(user, f"my token: {token}", 900_000 + number)
        since = len(stage.slack.calls)
        started = time.perf_counter()
        await user.send_event(event, event_id=event_id)
        warned = await stage.slack.wait_for(
            lambda call: call.method == "chat.postEphemeral", since=since
        )
        delays.append(warned.done_at - started)
    return statistics.median(delays)


async def _measure() -> list[str]:
    async with running_stage() as stage:
        user = stage.user("U0BENCH", "bench")
        short_us, long_us = _matcher(stage.settings.collection_hosts)
        short_ms, long_ms = await _events(stage, user)
        warn_s = await _time_to_warn(stage, user)
    size = len(json.dumps(LONG)) // 1024
    return [
        "Leak guard: an ordinary message of 40 KB against a short one",
        f"  matcher: {short_us:.1f} µs short, {long_us:.1f} µs for {size} KB"
        f" (medians of {MATCHER_ROUNDS})",
        f"  the whole signed event over HTTP: {short_ms:.2f} ms short, {long_ms:.2f} ms long"
        f" → ×{long_ms / short_ms:.2f} (target ≤ 1.5; medians of {EVENT_ROUNDS})",
        f"  a pasted token to its private warning: {warn_s * 1000:.0f} ms"
        f" (target < 2000; median of {WARNINGS})",
    ]


def run() -> list[str]:
    return asyncio.run(_measure())
