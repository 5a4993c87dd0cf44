"""Posting through Slack's bad moments: per-channel pacing after a 429, retries of transient
failures, and nothing retried that Slack refused for good."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack.webapi import FakeSlack
from bot.slack.delivery import PACE_S, ChannelPacer, DeliveryExpired, deliver


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_limited_channel_waits_then_is_paced_while_others_are_not() -> None:
    clock = Clock()
    pacer = ChannelPacer(clock)
    assert pacer.slot("C1") == 0
    assert pacer.slot("C1") == 0

    pacer.rate_limited("C1", 5)

    assert pacer.slot("C1") == 5
    assert pacer.slot("C1") == 5 + PACE_S  # queued behind the first
    assert pacer.slot("C2") == 0
    clock.now += 300  # long after: back to normal
    assert pacer.slot("C1") == 0
    assert pacer.slot("C1") == 0


async def _client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-delivery", base_url=slack.api_url, retry_handlers=[])


async def test_429_500_and_dropped_connections_are_retried_until_the_post_is_in() -> None:
    async with FakeSlack() as slack:
        client = await _client(slack)
        slack.fail_next("chat.postMessage", status=429, retry_after=0)
        slack.fail_next("chat.postMessage", status=500)
        slack.inject_faults(1.0, kinds=("dropped_before",), seed=1)

        async def post() -> object:
            if len(slack.calls) == 3:
                slack.inject_faults(0)
            return await client.chat_postMessage(channel="C0DELIVER", text="the answer")

        response = await deliver(post, "C0DELIVER", pacer=ChannelPacer())

    assert response["ok"] is True
    statuses = [(call.status, call.dropped) for call in slack.calls_to("chat.postMessage")]
    assert statuses == [(429, None), (500, None), (0, "dropped_before"), (200, None)]
    assert [m["text"] for m in slack.messages("C0DELIVER")] == ["the answer"]


async def test_what_slack_refuses_for_good_is_not_retried() -> None:
    async with FakeSlack() as slack:
        client = await _client(slack)
        slack.fail_next("chat.postMessage", error="invalid_blocks")

        with pytest.raises(SlackApiError):
            await deliver(
                lambda: client.chat_postMessage(channel="C0DELIVER", text="x"),
                "C0DELIVER",
                pacer=ChannelPacer(),
            )

    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_past_its_patience_a_delivery_gives_up_in_words() -> None:
    async with FakeSlack() as slack:
        client = await _client(slack)
        slack.fail_next("chat.postMessage", status=503, times=10)

        with pytest.raises(DeliveryExpired, match="still failing"):
            await deliver(
                lambda: client.chat_postMessage(channel="C0DELIVER", text="x"),
                "C0DELIVER",
                patience_s=0.01,
                pacer=ChannelPacer(),
            )
