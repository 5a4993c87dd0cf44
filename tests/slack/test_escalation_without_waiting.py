"""Escalating an answer never waits on its bookkeeping, over real bot processes.

A store owner may escalate the moment the answer is visible: before its history row is written
(here Slack is slow to take reactions, which used to hold the row back), while PostgreSQL is
down, and the row of an answered check survives a kill -9 between the post and the row (here
the `checks` table is locked, as a slow database would hold the write).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.destination import Destination, EntryPoint
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from bot.settings import normalise_url
from handlers.blocks import support as support_blocks
from handlers.commands import COMMAND
from tests.db_fixtures import fresh_postgres_url
from tests.slack.processes import BotProcess, bot_env, until
from tests.throwaway_postgres import throwaway_postgres

pytestmark = pytest.mark.process

CHANNEL = "C0CUSTOMER"
SUPPORT = "C0SUPPORT"
OWNER = "U0OWNER"
ESCALATION = {
    support_blocks.GOAL_BLOCK: {support_blocks.GOAL_INPUT: "Move products to the new shop"},
    support_blocks.URGENCY_BLOCK: {support_blocks.URGENCY_INPUT: "blocking"},
}


class Rig:
    """The stand-ins, a bot process on them, and the store owner."""

    def __init__(self, slack: FakeSlack, sandbox: EcwidSandbox, tmp_path: Path) -> None:
        self.slack = slack
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.secret = secrets.token_hex(16)
        self.env = bot_env(slack, sandbox, self.secret, "xoxb-escalate") | {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "",
            "SUPPORT_CHANNEL_ID": SUPPORT,
            "CHECK_LEASE_S": "3",
            "LOG_LEVEL": "INFO",
        }
        slack.set_channel_members(SUPPORT, [slack.bot_user_id, "U0AGENT"])
        self.bots: list[BotProcess] = []

    async def start(self, name: str = "bot") -> BotProcess:
        bot = BotProcess(self.env, self.tmp_path / f"{name}.log")
        self.bots.append(bot)
        await bot.healthy()
        return bot

    def owner(self, bot: BotProcess) -> SlackUser:
        return SlackUser(bot.events, self.secret, self.slack, user_id=OWNER, ack_timeout=10)

    async def answer(self, owner: SlackUser, store: str = "revoked") -> dict[str, Any]:
        """`owner` pastes `store`'s URL with the slash command: the answer, once posted."""
        since = len(self.slack.calls)
        await owner.slash_command(COMMAND, self.sandbox.collection_url(store), channel_id=CHANNEL)
        posted = await self.slack.wait_for(
            lambda call: (
                call.method == "chat.postMessage"
                and support_blocks.ESCALATE_ACTION in json.dumps(call.args.get("blocks"))
            ),
            since=since,
            timeout=30,
        )
        return next(
            message
            for message in self.slack.messages(CHANNEL, str(posted.args["thread_ts"]))
            if message["ts"] == posted.response["ts"]
        )

    def triage_posts(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages(SUPPORT) if m.get("thread_ts") in (None, m["ts"])]

    def told_support_was_asked(self, answer: dict[str, Any]) -> bool:
        replies = self.slack.messages(CHANNEL, str(answer["thread_ts"]))
        return any("support team has been asked" in str(m.get("text")) for m in replies)

    def logs(self) -> str:
        return "".join(path.read_text() for path in sorted(self.tmp_path.glob("*.log")))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        rig = Rig(slack, sandbox, tmp_path)
        yield rig
        for bot in rig.bots:  # what a failed test left running
            if bot.process.poll() is None:
                await bot.kill()


def _check_id(answer: dict[str, Any]) -> str:
    for block in answer.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == support_blocks.ESCALATE_ACTION:
                return str(element["value"])
    raise AssertionError("the answer has no escalate button")


async def _open_escalation_modal(rig: Rig, answer: dict[str, Any]) -> str:
    """The escalation modal the bot opens for the answer's button, opened on Slack's side."""
    destination = Destination(
        channel=CHANNEL,
        thread_ts=str(answer["thread_ts"]),
        requester=OWNER,
        team="T0001",
        entry=EntryPoint.COMMAND,
    )
    view = support_blocks.escalate_modal(_check_id(answer), destination)
    async with httpx.AsyncClient() as http:
        opened = await http.post(
            f"{rig.slack.api_url}views.open",
            headers={"Authorization": "Bearer xoxb-escalate"},
            json={"trigger_id": rig.slack.issue_trigger_id(OWNER), "view": view},
        )
    return str(opened.json()["view"]["id"])


async def test_an_escalation_as_soon_as_the_answer_shows_reaches_support(rig: Rig) -> None:
    # Slack is slow to take reactions: the decoration after the answer hangs, and used to hold
    # the history row back with it.
    reactions = rig.slack.hold("reactions.add")
    bot = await rig.start()
    owner = rig.owner(bot)
    try:
        answer = await rig.answer(owner)
        # The answer shows and its decoration hangs: escalating now is escalating at once,
        # however long this machine takes to get here.
        await until(
            lambda: rig.slack.held("reactions.add") > 0, 20, "the ✅ asked for", rig.tmp_path
        )
        view_id = await _open_escalation_modal(rig, answer)
        await owner.submit_view(view_id, ESCALATION)
        held_while_escalating = rig.slack.held("reactions.add")
        await until(lambda: len(rig.triage_posts()) == 1, 20, "a triage post", rig.tmp_path)
        await until(lambda: rig.told_support_was_asked(answer), 20, "the owner told", rig.tmp_path)
        reactions.set()
    finally:
        await owner.aclose()
        assert await bot.stop() == 0

    assert held_while_escalating > 0
    assert "Move products" in json.dumps(rig.triage_posts()[0])
    assert "escalating failed" not in rig.logs()
    with sqlite3.connect(rig.tmp_path / "data" / "ecwid-connect.sqlite3") as database:
        rows = database.execute("SELECT check_id, triage_ts FROM escalations").fetchall()
    assert rows == [(_check_id(answer), rig.triage_posts()[0]["ts"])]


async def test_an_escalation_while_the_database_is_down_reaches_support_and_is_written_later(
    rig: Rig,
) -> None:
    async with throwaway_postgres() as postgres:
        rig.env["DATABASE_URL"] = postgres.url
        bot = await rig.start()
        owner = rig.owner(bot)
        try:
            await postgres.stop()
            answer = await rig.answer(owner)
            since = len(rig.slack.calls)
            await owner.click_button(answer, support_blocks.ESCALATE_ACTION, channel_id=CHANNEL)
            opened = await rig.slack.wait_for(lambda c: c.method == "views.open", since=since)
            await owner.submit_view(str(opened.response["view"]["id"]), ESCALATION)
            await until(lambda: len(rig.triage_posts()) == 1, 20, "a triage post", rig.tmp_path)
            await until(
                lambda: rig.told_support_was_asked(answer), 20, "the owner told", rig.tmp_path
            )
            await postgres.start()
            written = await _until_written(postgres.url, _check_id(answer))
        finally:
            await owner.aclose()
            assert await bot.stop() == 0

    assert written == (_check_id(answer), rig.triage_posts()[0]["ts"])
    assert "escalating failed" not in rig.logs()


async def _until_written(url: str, check_id: str) -> tuple[str, str] | None:
    """The escalation row (check ID, triage ts) of `check_id`, once written with its check."""
    engine = create_async_engine(normalise_url(url))
    query = sa.text(
        "SELECT e.check_id, e.triage_ts FROM escalations e JOIN checks c ON c.id = e.check_id"
        " WHERE e.check_id = :check_id"
    )
    try:
        for _ in range(300):
            try:
                async with engine.connect() as connection:
                    row = (await connection.execute(query, {"check_id": check_id})).first()
            except Exception:  # the server is still starting
                row = None
            if row is not None:
                return (str(row[0]), str(row[1]))
            await asyncio.sleep(0.1)
        return None
    finally:
        await engine.dispose()


async def test_the_history_row_of_an_answer_survives_a_kill_between_the_post_and_the_row(
    rig: Rig,
) -> None:
    url = await fresh_postgres_url()
    rig.env["DATABASE_URL"] = url
    engine = create_async_engine(normalise_url(url))
    try:
        bot = await rig.start("first")
        owner = rig.owner(bot)
        # A slow database: the history's table takes no row until the lock is let go.
        blocker = await engine.connect()
        await blocker.execute(sa.text("LOCK TABLE checks IN SHARE MODE"))
        try:
            answer = await rig.answer(owner)
            await _until_state(engine, "posted")
            await bot.kill()
        finally:
            await blocker.rollback()
            await blocker.close()
            await owner.aclose()
        restarted = await rig.start("second")
        recorded = await _until_recorded(engine, _check_id(answer))
        assert await restarted.stop() == 0
        async with engine.connect() as connection:
            states = (await connection.execute(sa.text("SELECT state FROM pending_checks"))).all()
    finally:
        await engine.dispose()

    assert recorded
    thread = rig.slack.messages(CHANNEL, str(answer["thread_ts"]))
    answers = [m for m in thread if support_blocks.ESCALATE_ACTION in json.dumps(m)]
    assert len(answers) == 1  # recorded, not posted again
    assert [state for (state,) in states] == ["done"]


async def _until_state(engine: Any, state: str) -> None:
    for _ in range(300):
        async with engine.connect() as connection:
            found = await connection.scalar(
                sa.text("SELECT count(*) FROM pending_checks WHERE state = :state"),
                {"state": state},
            )
        if found:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no journal entry became {state!r}")


async def _until_recorded(engine: Any, check_id: str) -> bool:
    for _ in range(300):
        async with engine.connect() as connection:
            found = await connection.scalar(
                sa.text("SELECT count(*) FROM checks WHERE id = :id"), {"id": check_id}
            )
        if found:
            return True
        await asyncio.sleep(0.1)
    return False
