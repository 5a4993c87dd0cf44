"""PostgreSQL stopped in the middle of a burst of checks: every check still runs and is answered.

The bot runs as a real process on a throw-away PostgreSQL server (`throwaway_postgres`). Checks are
accepted before, during and after the outage: slash commands with a paste and modal submissions
(whose double-submit test is a database write). While the database is down, the journal,
de-duplication and the token guard fall back to process memory and the history rows wait in
memory; once it is back, every row is written. The bot says once when the outage starts and once
when it ends.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from bot.settings import normalise_url
from handlers.blocks import check as check_blocks
from handlers.commands import COMMAND
from tests.slack.processes import BotProcess, bot_env, eyes_added, journal_settled, until
from tests.throwaway_postgres import ThrowawayPostgres, throwaway_postgres

CHANNEL = "C0OUTAGE"
BEFORE, DURING, MODALS = 10, 10, 5
RESULT_TEXT = CATALOGUE[Diagnosis.OK].title

pytestmark = pytest.mark.process


@pytest.fixture
async def postgres() -> AsyncIterator[ThrowawayPostgres]:
    async with throwaway_postgres() as server:
        yield server


async def _checks_recorded(url: str) -> int:
    engine = create_async_engine(normalise_url(url))
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(sa.text("SELECT count(*) FROM checks")) or 0)
    finally:
        await engine.dispose()


def _results(slack: FakeSlack) -> list[dict[str, Any]]:
    return [
        message
        for message in slack.messages(CHANNEL)
        if message.get("user") == slack.bot_user_id and RESULT_TEXT in json.dumps(message)
    ]


async def test_checks_are_answered_while_the_database_is_down_and_recorded_once_it_is_back(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-outage") | {
            "DATABASE_URL": postgres.url,
            "CHECK_LEASE_S": "3",
            "LOG_LEVEL": "WARNING",
        }
        bot = BotProcess(env, tmp_path / "bot.log")
        await bot.healthy()
        url = sandbox.collection_url("connected")
        users = [
            SlackUser(bot.events, secret, slack, user_id=f"U0D{n:03d}", ack_timeout=10)
            for n in range(BEFORE + DURING + MODALS)
        ]
        try:
            views = []
            for user in users[:MODALS]:
                since = len(slack.calls)
                await user.slash_command(COMMAND, "", channel_id=CHANNEL)
                await slack.wait_for(lambda c: c.method == "chat.postMessage", since=since)
                root = slack.messages(CHANNEL)[-1]
                await user.click_button(root, check_blocks.OPEN_CHECK_MODAL_ACTION)
                opened = await slack.wait_for(lambda c: c.method == "views.open", since=since)
                views.append(str(opened.response["view"]["id"]))

            def command(user: SlackUser) -> Any:
                return user.slash_command(COMMAND, url, channel_id=CHANNEL)

            before = [command(user) for user in users[MODALS : MODALS + BEFORE]]
            acks = await asyncio.gather(*before, postgres.stop())
            values = {check_blocks.URL_BLOCK: {check_blocks.URL_INPUT: url}}
            acks += await asyncio.gather(
                *(command(user) for user in users[MODALS + BEFORE :]),
                *(
                    user.submit_view(view, values)
                    for user, view in zip(users[:MODALS], views, strict=True)
                ),
            )
            assert all(ack.status_code == 200 for ack in acks if ack is not None)
            total = BEFORE + DURING + MODALS
            for _ in range(300):
                if len(_results(slack)) >= total:
                    break
                await asyncio.sleep(0.1)
            answered_during_outage = len(_results(slack))
            await postgres.start()
            for _ in range(300):
                if await _checks_recorded(postgres.url) >= total:
                    break
                await asyncio.sleep(0.2)
            recorded = await _checks_recorded(postgres.url)
        finally:
            for user in users:
                await user.aclose()
            assert await bot.stop() == 0

    assert answered_during_outage == total
    assert len(_results(slack)) == total
    assert len({message["thread_ts"] for message in _results(slack)}) == total
    assert recorded == total
    for view in views:
        assert RESULT_TEXT in json.dumps(slack.views[view])
    log = (tmp_path / "bot.log").read_text()
    assert log.count("database unreachable") == 1, log[-3000:]
    assert log.count("database reachable again") == 1, log[-3000:]
    assert "something went wrong" not in json.dumps(slack.messages(CHANNEL))


async def test_checks_accepted_during_an_outage_survive_a_kill_of_their_process(
    postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    """kill -9 while the database is down: the journal kept the checks on disk as well, and the
    next process on the same DATA_DIR finishes them once the database is back."""
    secret = secrets.token_hex(16)
    data_dir = tmp_path / "data"
    checks = 4
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-outage") | {
            "DATABASE_URL": postgres.url,
            "DATA_DIR": str(data_dir),
            "CHECK_LEASE_S": "3",
            "CHECK_TIMEOUT_S": "8",
            "CREDENTIALS_KEY": "",
            "LOG_LEVEL": "INFO",
        }
        first = BotProcess(env, tmp_path / "first.log")
        await first.healthy()
        await postgres.stop()
        async with SlackUser(first.events, secret, slack, user_id="U0KEEP", ack_timeout=10) as user:
            slow = sandbox.collection_url("slow")  # every check stays in flight
            for _ in range(checks):
                ack = await user.slash_command(COMMAND, slow, channel_id=CHANNEL)
                assert ack.status_code == 200
            await until(lambda: eyes_added(slack) == checks, 20, "every check started", tmp_path)
        assert list(data_dir.glob("journal-spill-*.sqlite3"))  # what the database could not take
        await first.kill()

        await postgres.start()
        async with BotProcess(env, tmp_path / "second.log") as second:
            await second.healthy()
            roots = [m for m in slack.messages(CHANNEL) if m.get("user") == slack.bot_user_id]
            assert len(roots) == checks

            def replies(root: dict[str, Any]) -> list[dict[str, Any]]:
                return [m for m in slack.messages(CHANNEL, root["ts"]) if m["ts"] != root["ts"]]

            await until(
                lambda: all(replies(root) for root in roots), 40, "every check answered", tmp_path
            )
            await journal_settled(env, 20, tmp_path)  # nothing left to answer twice
        for root in roots:
            (reply,) = replies(root)
            assert "was interrupted" in json.dumps(reply)
            assert "eyes" not in slack.reactions(CHANNEL, root["ts"])
    assert not list(data_dir.glob("journal-spill-*")), "the spill files are gone once published"
    assert "found 4 checks a stopped process kept on disk" in (tmp_path / "second.log").read_text()
