"""A follow-up outlives the bot: killed with SIGKILL mid-follow-up and started again on the
same database (SQLite; or PostgreSQL with a second replica all along), the bot goes on checking
and tells the thread exactly once when the store works."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from bot.db.vault import new_key
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import PAID_FEATURES
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.db_fixtures import fresh_postgres_url
from tests.slack.processes import BotProcess, bot_env, until

CHANNEL = "C0FOLLOW"


@pytest.mark.process
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_follow_up_survives_kill_9_and_answers_once(backend: str, tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-follow") | {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": await fresh_postgres_url() if backend == "postgresql" else "",
            "CREDENTIALS_KEY": new_key(),
            "FOLLOW_UP_EVERY_S": "0.5",
            "FOLLOW_UP_FOR_H": "0.05",  # three minutes
            "TOKEN_COOLDOWN_S": "0.1",
            "CHECK_LEASE_S": "2",
        }
        started: list[BotProcess] = []

        async def start(name: str) -> BotProcess:
            bot = BotProcess(env, tmp_path / f"{name}.log")
            started.append(bot)
            await bot.healthy()
            return bot

        def looks() -> int:
            return sum(
                r.matched_store == "free_plan" and r.path.endswith("/profile")
                for r in sandbox.requests
            )

        def replies() -> list[dict[str, object]]:
            return [
                m
                for m in slack.messages(CHANNEL)
                if m.get("thread_ts") and m.get("thread_ts") != m["ts"]
            ]

        try:
            first = await start("first")
            replica = await start("replica") if backend == "postgresql" else None
            async with SlackUser(
                first.events, secret, slack, user_id="U0OWNER", user_name="jane"
            ) as owner:
                url = sandbox.collection_url("free_plan")
                assert (
                    await owner.slash_command(COMMAND, url, channel_id=CHANNEL)
                ).status_code == 200
            await until(lambda: looks() >= 4, 30, "rounds of the follow-up", tmp_path)
            (answer,) = replies()
            assert "check again on my own" in json.dumps(answer)

            await first.kill()
            sandbox.change("free_plan", paid=True, available_features=PAID_FEATURES, failures=())
            second = await start("second")

            def connected() -> list[dict[str, object]]:
                return [m for m in replies() if "it works now" in str(m.get("text"))]

            await until(lambda: bool(connected()), 60, "the connected answer", tmp_path)
            # Once every process has stopped (each drains its work first), none can post again.
            assert await second.stop() == 0
            if replica is not None:
                assert await replica.stop() == 0
            assert len(connected()) == 1
            assert "white_check_mark" in slack.reactions(CHANNEL, str(answer["thread_ts"]))
        finally:
            for bot in started:
                if bot.process.poll() is None:
                    await bot.kill()
