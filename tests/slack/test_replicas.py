"""Two bot processes behind one PostgreSQL, as behind a load balancer: a Slack retry that reaches
the other process is answered once, and a token cooled down in one is cooled down in the other."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from bot.slack.http_app import EVENTS_PATH
from handlers.commands import COMMAND
from tests.db_fixtures import fresh_postgres_url
from tests.slack.processes import BotProcess, bot_env

pytestmark = pytest.mark.process

CHANNEL = "C0REPLICA"


@pytest.fixture
async def replicas(
    tmp_path: Path,
) -> AsyncIterator[tuple[list[SlackUser], FakeSlack, EcwidSandbox]]:
    database_url = await fresh_postgres_url()
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-replica") | {
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
        env.pop("SLACK_APP_TOKEN", None)
        async with (
            BotProcess(env, tmp_path / "first.log") as first,
            BotProcess(env, tmp_path / "second.log") as second,
        ):
            # A generous minute: two processes importing and migrating at once on a busy machine.
            await asyncio.gather(first.healthy(60), second.healthy(60))
            users = [
                SlackUser(bot.events, secret, slack, user_id="U0OWNER", user_name="jane")
                for bot in (first, second)
            ]
            yield users, slack, sandbox
            # Leaving the block waits for the processes without running this event loop, which
            # serves their Slack stand-in: a reaction still on its way would hang them.
            await asyncio.gather(_idle(first.base_url), _idle(second.base_url))


async def _idle(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if (await http.get(f"{base}/health")).json()["checks_in_flight"] == 0:
                return
            await asyncio.sleep(0.05)


async def _until(condition: object, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)


async def test_a_retried_event_reaching_the_other_replica_is_answered_once(
    replicas: tuple[list[SlackUser], FakeSlack, EcwidSandbox],
) -> None:
    (first, second), slack, _sandbox = replicas
    thread = slack.post_user_message(CHANNEL, "U0OWNER", "help")
    event = {
        "type": "app_mention",
        "user": "U0OWNER",
        "text": "<@UBOT> guide",
        "ts": "1700000500.000100",
        "thread_ts": thread["ts"],
        "channel": CHANNEL,
    }

    await first.send_event(event, event_id="EvReplica1")
    await second.send_event(event, event_id="EvReplica1", retry_num=1)
    await _until(lambda: len(slack.calls_to("chat.postMessage")) >= 1)
    # Both replicas idle: whatever either would post is in.
    await asyncio.gather(
        *(_idle(user.bot_url.removesuffix(EVENTS_PATH)) for user in (first, second))
    )

    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_a_token_cooled_down_in_one_replica_is_cooled_down_in_the_other(
    replicas: tuple[list[SlackUser], FakeSlack, EcwidSandbox],
) -> None:
    (first, second), slack, sandbox = replicas
    url = sandbox.collection_url("revoked")

    await first.slash_command(COMMAND, url, channel_id=CHANNEL)
    await _until(lambda: "token_invalid" in str(slack.calls_to("chat.postMessage")))
    asked_before = sum(r.path.startswith("/api/") for r in sandbox.requests)
    await second.slash_command(COMMAND, url, channel_id=CHANNEL)
    await _until(lambda: "throttled" in str(slack.calls_to("chat.postMessage")))

    assert "throttled" in str(slack.calls_to("chat.postMessage"))
    assert sum(r.path.startswith("/api/") for r in sandbox.requests) == asked_before
