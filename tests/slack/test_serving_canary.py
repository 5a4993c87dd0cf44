"""The canary for the operable service: with fresh tokens in every sample store, checked through
the running bot with JSON logs at DEBUG, no token and no collection URL appears in its log
lines, its `/metrics`, its `/ready`, or what `forget` prints."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from pathlib import Path

import httpx
import pytest

from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.slack.processes import STOP_BOUND_S, BotProcess, bot_env, no_traceback
from tests.test_canary import CANARY_STORES, secrets_of

pytestmark = pytest.mark.process


async def paste_in_channel(user: SlackUser, slack: FakeSlack, text: str) -> None:
    """`user` writes `text` in a channel the bot is in: Slack sends `message.channels`."""
    message = slack.post_user_message("C0PASTED", user.user_id, text)
    event = {**message, "channel": "C0PASTED", "event_ts": message["ts"], "channel_type": "channel"}
    await user.send_event(event)


async def test_no_secret_in_json_logs_metrics_or_probes(tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox(CANARY_STORES) as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-canary") | {
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",
            "CHECK_TIMEOUT_S": "5",
        }
        leaks = [leaked for store in CANARY_STORES for leaked in secrets_of(sandbox, store)]
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            async with SlackUser(bot.events, secret, slack) as user:
                for store in CANARY_STORES:
                    await user.slash_command(
                        COMMAND, sandbox.collection_url(store.key), channel_id="C0CANARY"
                    )
                    # And pasted in a channel: the leak guard reads it and warns.
                    for pasted in (sandbox.collection_url(store.key), f"1003 {store.token}"):
                        await paste_in_channel(user, slack, pasted)
            for _ in range(600):
                warned = len(slack.calls_to("chat.postEphemeral"))
                if bot.log().count("check finished") >= len(CANARY_STORES) and warned >= 2 * len(
                    CANARY_STORES
                ):
                    break
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(timeout=10) as http:
                probes = [
                    (await http.get(f"{bot.base_url}{path}")).text
                    for path in ("/metrics", "/ready", "/health")
                ]
            assert await bot.stop(signal.SIGTERM, within=STOP_BOUND_S) == 0

    log = bot.log()
    no_traceback(log)
    assert bot.log().count("check finished") == len(CANARY_STORES)
    assert len(slack.calls_to("chat.postEphemeral")) == 2 * len(CANARY_STORES), "each paste warned"
    for line in log.splitlines():
        json.loads(line)  # every line is one JSON object
    assert '"level": "DEBUG"' in log, "debug logging was on"
    for leaked in leaks:
        assert leaked not in log, "a secret reached the log"
        for probe in probes:
            assert leaked not in probe, "a secret reached a probe"
        for call in slack.calls:
            assert leaked not in json.dumps(call.args), f"a secret reached Slack ({call.method})"
    # What a message says about itself (to be found again) is an ID, nothing more.
    payloads = [
        call.args["metadata"]["event_payload"] for call in slack.calls_to("chat.postMessage")
    ]
    assert payloads
    assert all(set(payload) <= {"check_id", "message_id", "journal_id"} for payload in payloads)
