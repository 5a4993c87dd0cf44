"""Two bot processes behind one PostgreSQL, as behind a load balancer: a Slack retry that reaches
the other process is answered once, and a token cooled down in one is cooled down in the other."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.loopback import free_port
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.db_fixtures import fresh_postgres_url

CHANNEL = "C0REPLICA"


@asynccontextmanager
async def bot_process(env: dict[str, str]) -> AsyncIterator[str]:
    """`ecwid-connect serve` in HTTP mode, in its own process; yields its base URL.

    Stopping it waits in a thread: the Slack stand-in, on this event loop, must keep answering
    the bot while it finishes its checks."""
    import subprocess

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=os.environ | env | {"PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        # Waited for off the event loop: a bot finishing a check on SIGTERM still talks to the
        # Slack stand-in, which this loop serves.
        await asyncio.to_thread(process.wait, 15)


async def _healthy(base: str) -> None:
    # A generous minute: two processes importing and migrating at once on a busy machine.
    async with httpx.AsyncClient() as http:
        for _ in range(1200):
            try:
                if (await http.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"the bot at {base} did not start")


@pytest.fixture
async def replicas(
    tmp_path: object,
) -> AsyncIterator[tuple[list[SlackUser], FakeSlack, EcwidSandbox]]:
    database_url = await fresh_postgres_url()
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = {
            "DATABASE_URL": database_url,
            "SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": "xoxb-replica",
            "SLACK_SIGNING_SECRET": secret,
            "ECWID_API_URL": sandbox.api_url,
            "COLLECTION_HOSTS": sandbox.collection_host,
            "LOG_LEVEL": "WARNING",
        }
        env.pop("SLACK_APP_TOKEN", None)
        async with bot_process(env) as first, bot_process(env) as second:
            await asyncio.gather(_healthy(first), _healthy(second))
            users = [
                SlackUser(
                    f"{base}/slack/events", secret, slack, user_id="U0OWNER", user_name="jane"
                )
                for base in (first, second)
            ]
            yield users, slack, sandbox
            # Leaving the block waits for the processes without running this event loop, which
            # serves their Slack stand-in: a reaction still on its way would hang them.
            await asyncio.gather(_idle(first), _idle(second))


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
    await asyncio.sleep(0.5)  # time for a wrong second answer to arrive

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
