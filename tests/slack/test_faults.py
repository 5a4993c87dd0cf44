"""Slack at its worst while 100 checks arrive at once: every check is answered, exactly once.

The bot runs as a real process. Before the burst, the Slack stand-in starts failing a fifth of
the calls that answer a check (`chat.postMessage`, reactions, `views.update`, and the reads that
look for a post in doubt): 429 with Retry-After, 500, and connections dropped before or after
the call was applied. 20 modal
submissions and 80 slash commands with a paste, spread over channels as people would be, all
end with their result in their thread, exactly once: a post whose connection dropped after Slack
applied it is found in the conversation (by its message metadata) instead of being posted again.
No answer is replaced by the generic failure message, no 👀 is left behind, every modal shows
its result.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.blocks import check as check_blocks
from handlers.commands import COMMAND
from tests.slack.processes import BotProcess, bot_env

pytestmark = pytest.mark.process

CHANNELS = [f"C0FAULT{n:02d}" for n in range(20)]
MODALS = 20
COMMANDS = 80
FAULTY = (
    "chat.postMessage",
    "reactions.add",
    "reactions.remove",
    "views.update",
    "conversations.replies",
    "conversations.history",
)
ROOT_TEXT = "asked for an Ecwid connection check"
RESULT_TEXT = CATALOGUE[Diagnosis.OK].title


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[BotProcess, FakeSlack, EcwidSandbox, str]]:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-faults") | {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "",
            # Room for the whole burst (the budget's own behaviour is tested elsewhere).
            "FAILING_TOKEN_BUDGET_PER_MIN": "600",
            "LOG_LEVEL": "WARNING",
        }
        async with BotProcess(env, tmp_path / "bot.log") as process:
            await process.healthy()
            yield process, slack, sandbox, secret


def _posted(slack: FakeSlack, text: str) -> list[dict[str, Any]]:
    return [
        message
        for channel in CHANNELS
        for message in slack.messages(channel)
        if message.get("user") == slack.bot_user_id and text in json.dumps(message)
    ]


async def test_every_check_is_answered_once_while_slack_fails_a_fifth_of_the_calls(
    bot: tuple[BotProcess, FakeSlack, EcwidSandbox, str], tmp_path: Path
) -> None:
    process, slack, sandbox, secret = bot
    url = sandbox.collection_url("connected")
    users = [
        SlackUser(process.events, secret, slack, user_id=f"U0F{n:03d}", ack_timeout=10)
        for n in range(MODALS + COMMANDS)
    ]
    modals: list[tuple[SlackUser, str, str, str]] = []
    for n, user in enumerate(users[:MODALS]):
        channel = CHANNELS[n % len(CHANNELS)]
        since = len(slack.calls)
        await user.slash_command(COMMAND, "", channel_id=channel)
        posted = await slack.wait_for(lambda c: c.method == "chat.postMessage", since=since)
        root = slack.messages(channel)[-1]
        assert root["ts"] == posted.response["ts"]
        since = len(slack.calls)
        await user.click_button(root, check_blocks.OPEN_CHECK_MODAL_ACTION, channel_id=channel)
        opened = await slack.wait_for(lambda c: c.method == "views.open", since=since)
        modals.append((user, channel, str(root["ts"]), str(opened.response["view"]["id"])))

    slack.inject_faults(0.2, methods=FAULTY, retry_after=1, seed=8)
    values = {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: url}}
    acks = await asyncio.gather(
        *(user.submit_view(view_id, values) for user, _, _, view_id in modals),
        *(
            user.slash_command(COMMAND, url, channel_id=CHANNELS[n % len(CHANNELS)])
            for n, user in enumerate(users[MODALS:])
        ),
    )
    assert [ack.status_code for ack in acks] == [200] * (MODALS + COMMANDS)

    posts = slack.calls_to("chat.postMessage")
    for _ in range(1200):
        if len(_posted(slack, RESULT_TEXT)) >= MODALS + COMMANDS:
            break
        await asyncio.sleep(0.1)
    assert await process.stop() == 0  # SIGTERM: what is in flight finishes first
    for user in users:
        await user.aclose()

    posts = slack.calls_to("chat.postMessage")
    dropped_after = slack.dropped_after_applied("chat.postMessage")
    faults = [call for call in slack.calls if call.status != 200 or call.dropped]
    assert len(faults) > 40, "the stand-in should have failed many calls"
    assert any(call.status == 429 for call in posts)
    assert any(call.dropped == "dropped_before" for call in posts)

    assert any(RESULT_TEXT in json.dumps(call.args) for call in dropped_after)
    assert any(ROOT_TEXT in json.dumps(call.args) for call in dropped_after)
    lookups = slack.calls_to("conversations.replies") + slack.calls_to("conversations.history")
    assert lookups, "posts in doubt should have been looked for"
    assert any(call.status != 200 or call.dropped for call in lookups), "and some looks failed"

    # Every check answered in its own thread, once: no doubles, not even for posts that Slack
    # applied and whose connection then dropped.
    results = _posted(slack, RESULT_TEXT)
    assert len(results) == MODALS + COMMANDS
    roots = _posted(slack, ROOT_TEXT)
    assert len(roots) == COMMANDS
    answered_threads = {(r["thread_ts"]) for r in results}
    for _user, _channel, root_ts, view_id in modals:
        assert root_ts in answered_threads
        assert RESULT_TEXT in json.dumps(slack.views[view_id])
    answered_roots = [root for root in roots if root["ts"] in answered_threads]
    assert len(answered_roots) == COMMANDS
    assert len(answered_threads) == MODALS + COMMANDS

    # Nothing blamed on the bot, nothing left "checking".
    assert not _posted(slack, "something went wrong")
    for channel in CHANNELS:
        for message in slack.messages(channel):
            assert "eyes" not in slack.reactions(channel, message["ts"]), message["ts"]
