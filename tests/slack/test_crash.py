"""kill -9 in the middle of checks, then a restart on the same database: no check is lost.

The bot runs as a real process against the Slack stand-in and the Ecwid sandbox, whose `slow`
store keeps every check in flight. Killed with SIGKILL, it is started again on the same data
(the SQLite file; or PostgreSQL, where a second replica runs all along): every accepted check –
slash commands with a paste and modal submissions – ends answered in its thread exactly once.
Without CREDENTIALS_KEY the answer says the check was interrupted, with a button to check again;
with it, the check is run again. 👀 leaves every thread root, and the modals still open show the
outcome. SIGTERM, by contrast, lets the checks in flight finish before the process exits, and
leaves no journal entry open.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.db.vault import new_key
from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.blocks import check as check_blocks
from handlers.commands import COMMAND
from tests.db_fixtures import fresh_postgres_url
from tests.slack.processes import BotProcess, bot_env, eyes_added, journal_settled, until

pytestmark = pytest.mark.process

CHANNEL = "C0CRASH"
COMMANDS = 6
MODALS = 3


@dataclass
class Rig:
    slack: FakeSlack
    sandbox: EcwidSandbox
    env: dict[str, str]
    secret: str
    tmp_path: Path
    vault: bool
    started: list[BotProcess] = field(default_factory=list)

    async def start(self, name: str) -> BotProcess:
        """A bot process logging to `name`.log, once it answers /health."""
        bot = BotProcess(self.env, self.tmp_path / f"{name}.log")
        self.started.append(bot)
        await bot.healthy()
        return bot

    def user(self, bot: BotProcess) -> SlackUser:
        return SlackUser(bot.events, self.secret, self.slack, user_id="U0CRASH", user_name="kim")


@pytest.fixture(name="rig", params=["sqlite", "postgresql"])
async def rig_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-crash") | {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "",
            "CREDENTIALS_KEY": "",
            "CHECK_TIMEOUT_S": "8",
            "CHECK_LEASE_S": "4",  # short for the test; renewed every third of it
            "LOG_LEVEL": "INFO",
        }
        # SQLite: told the check was interrupted; PostgreSQL, with the vault on: run again.
        vault = request.param == "postgresql"
        if vault:
            env |= {"DATABASE_URL": await fresh_postgres_url(), "CREDENTIALS_KEY": new_key()}
        rig = Rig(slack, sandbox, env, secret, tmp_path, vault)
        yield rig
        for bot in rig.started:  # what a failed test left running
            if bot.process.poll() is None:
                await bot.kill()


def _bot_messages(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages(CHANNEL) if m.get("user") == slack.bot_user_id]


def _replies(slack: FakeSlack, root_ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(CHANNEL, root_ts) if m["ts"] != root_ts]


async def _open_modal(rig: Rig, user: SlackUser) -> tuple[str, str]:
    """The guide, its button, the modal: the guide's ts (the thread) and the view's id."""
    since = len(rig.slack.calls)
    await user.slash_command(COMMAND, "", channel_id=CHANNEL)
    posted = await rig.slack.wait_for(
        lambda call: call.method == "chat.postMessage" and call.response.get("ok") is True,
        since=since,
    )
    root = next(m for m in rig.slack.messages(CHANNEL) if m["ts"] == posted.response["ts"])
    since = len(rig.slack.calls)
    await user.click_button(root, check_blocks.OPEN_CHECK_MODAL_ACTION, channel_id=CHANNEL)
    opened = await rig.slack.wait_for(lambda call: call.method == "views.open", since=since)
    return str(root["ts"]), str(opened.response["view"]["id"])


async def test_checks_in_flight_when_the_bot_is_killed_are_all_answered_after_a_restart(
    rig: Rig,
) -> None:
    slow = rig.sandbox.collection_url("slow")
    first = await rig.start("first")
    # On PostgreSQL a second replica runs all along: it and the restarted process both look
    # for the killed one's checks, and each is finished by exactly one of them.
    replica = await rig.start("replica") if rig.vault else None
    async with rig.user(first) as user:
        modals = [await _open_modal(rig, user) for _ in range(MODALS)]
        for _root, view_id in modals:
            answer = await user.submit_view(
                view_id, {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: slow}}
            )
            assert answer.status_code == 200
        for _ in range(COMMANDS):
            assert (await user.slash_command(COMMAND, slow, channel_id=CHANNEL)).status_code == 200
        # Every check has started (👀 on its thread root), none has an answer yet.
        await until(
            lambda: eyes_added(rig.slack) == MODALS + COMMANDS,
            20,
            "every check started",
            rig.tmp_path,
        )
    assert all(not _replies(rig.slack, m["ts"]) for m in _bot_messages(rig.slack))

    await first.kill()
    second = await rig.start("second")

    roots = [m for m in _bot_messages(rig.slack) if "thread_ts" not in m]
    assert len(roots) == MODALS + COMMANDS

    def all_answered() -> bool:
        return all(_replies(rig.slack, root["ts"]) for root in roots)

    await until(all_answered, 40, "every check answered after the restart", rig.tmp_path)
    # Nothing left open for any process to answer a second time.
    await journal_settled(rig.env, 20, rig.tmp_path)
    assert await second.stop() == 0
    if replica is not None:
        assert await replica.stop() == 0

    expected = "check_timeout" if rig.vault else "was interrupted"
    for root in roots:
        (reply,) = _replies(rig.slack, root["ts"])
        assert expected in json.dumps(reply), reply
        assert "eyes" not in rig.slack.reactions(CHANNEL, root["ts"])
        if not rig.vault:
            actions = [b for b in reply["blocks"] if b["type"] == "actions"]
            assert actions[0]["elements"][0]["action_id"] == check_blocks.CHECK_AGAIN_ACTION
    for _root, view_id in modals:
        shown = json.dumps(rig.slack.views[view_id])
        assert ("This result is also in the thread" if rig.vault else "was interrupted") in shown
    # Nothing is said twice, and nothing that went wrong is blamed on the bot.
    assert "something went wrong" not in json.dumps(_bot_messages(rig.slack))


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_sigterm_lets_the_checks_in_flight_finish_and_leaves_nothing_open(rig: Rig) -> None:
    slow = rig.sandbox.collection_url("slow")
    bot = await rig.start("bot")
    async with rig.user(bot) as user:
        for _ in range(4):
            assert (await user.slash_command(COMMAND, slow, channel_id=CHANNEL)).status_code == 200
        await until(lambda: eyes_added(rig.slack) == 4, 20, "every check started", rig.tmp_path)

    assert await bot.stop() == 0  # SIGTERM, while all four wait for the slow store

    roots = [m for m in _bot_messages(rig.slack) if "thread_ts" not in m]
    assert len(roots) == 4
    for root in roots:
        (reply,) = _replies(rig.slack, root["ts"])
        assert "check_timeout" in json.dumps(reply)
    with sqlite3.connect(rig.tmp_path / "data" / "ecwid-connect.sqlite3") as journal:
        states = [state for (state,) in journal.execute("SELECT state FROM pending_checks")]
    assert states == ["done"] * 4


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_an_answer_slack_would_not_take_is_delivered_after_a_restart(rig: Rig) -> None:
    connected = rig.sandbox.collection_url("connected")
    first = await rig.start("first")
    async with rig.user(first) as user:
        root_ts, view_id = await _open_modal(rig, user)
        rig.slack.inject_faults(1.0, kinds=("server_error",))  # Slack is down
        since = len(rig.slack.calls)
        values = {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: connected}}
        await user.submit_view(view_id, values)

        def refused() -> int:
            return sum(
                call.method == "chat.postMessage" and call.status == 500
                for call in rig.slack.calls[since:]
            )

        # The check is done and its answer journaled: the bot keeps trying to post it.
        await until(lambda: refused() >= 3, 20, "the answer tried three times", rig.tmp_path)

    await first.kill()
    rig.slack.inject_faults(0)  # Slack is back
    second = await rig.start("second")
    await until(
        lambda: bool(_replies(rig.slack, root_ts)), 30, "the answer delivered", rig.tmp_path
    )
    await journal_settled(rig.env, 20, rig.tmp_path)  # nothing left to answer twice
    assert await second.stop() == 0

    (reply,) = _replies(rig.slack, root_ts)
    assert CATALOGUE[Diagnosis.OK].title in json.dumps(reply)
    assert "This result is also in the thread" in json.dumps(rig.slack.views[view_id])
    assert "eyes" not in rig.slack.reactions(CHANNEL, root_ts)
