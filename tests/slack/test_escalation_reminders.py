"""Reminders of escalations nobody answers, across real bot processes with targets of two
seconds: a bot killed after the first reminder and a new one in its place send the second and
no more (SQLite and PostgreSQL); two replicas on one PostgreSQL send each reminder once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.database import Database
from bot.db.timed import TimedWork
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis
from bot.response_targets import ResponseTargets, Urgency
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.webapi import FakeSlack
from handlers.escalation_timers import book_first_reminder
from tests.db.test_database import report
from tests.db_fixtures import fresh_postgres_url
from tests.slack.processes import BotProcess, bot_env, until

pytestmark = pytest.mark.process

SUPPORT = "C0SUPPORT"
CUSTOMERS = "C0CUSTOMERS"
TARGETS = "blocking=2s,normal=2s,low=2s"
TOKEN = "xoxb-reminders"


class Team:
    """The stand-ins, the database and the bots' settings."""

    def __init__(self, slack: FakeSlack, url: str, env: dict[str, str], logs: Path) -> None:
        self.slack = slack
        self.url = url
        self.env = env
        self.logs = logs

    def bot(self, name: str) -> BotProcess:
        return BotProcess(self.env, self.logs / f"{name}.log")

    def reminders(self, triage_ts: str) -> list[str]:
        return [
            str(call.args.get("text"))
            for call in self.slack.calls_to("chat.postMessage")
            if call.args.get("thread_ts") == triage_ts
            and ":alarm_clock:" in str(call.args.get("text"))
            and call.response.get("ok") is True
        ]

    async def reminders_left(self) -> list[dict[str, object]]:
        """The reminders' timed work not finished, once the bots have stopped."""
        database = Database.from_url(self.url)
        try:
            return [
                {"kind": item.kind, "payload": item.payload}
                for item in await TimedWork(database, 5.0).open_items()
            ]
        finally:
            await database.close()

    async def escalations(self, count: int) -> list[str]:
        """`count` blocking escalations with their triage posts, their first reminders booked;
        the triage posts' ts."""
        database = Database.from_url(self.url)
        database.response_targets = ResponseTargets.parse(TARGETS)
        client = AsyncWebClient(token=TOKEN, base_url=self.slack.api_url)
        posts = []
        try:
            await database.migrate()
            for n in range(count):
                asker = Destination(
                    channel=CUSTOMERS, thread_ts=f"1700000{n:03d}.000100", requester="U0OWNER"
                )
                check_id = await database.record_check(report(Diagnosis.TOKEN_INVALID), asker)
                escalation = await database.create_escalation(
                    check_id, asker, goal="migrate", urgency=Urgency.BLOCKING, note=""
                )
                posted = await client.chat_postMessage(channel=SUPPORT, text="escalation")
                await database.set_triage_message(escalation.id, SUPPORT, str(posted["ts"]))
                await book_first_reminder(TimedWork(database, 5.0), escalation)
                posts.append(str(posted["ts"]))
        finally:
            await database.close()
        return posts


@pytest.fixture(params=["sqlite", "postgresql"])
async def team(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Team]:
    if request.param == "postgresql":
        url = await fresh_postgres_url()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secrets.token_hex(16), TOKEN) | {
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_CHANNEL_ID": SUPPORT,
            "ESCALATION_RESPONSE_TARGETS": TARGETS,
            "CHECK_LEASE_S": "3",
            "LOG_LEVEL": "WARNING",
        }
        yield Team(slack, url, env, tmp_path)


async def test_a_bot_killed_after_the_first_reminder_is_followed_by_exactly_one_more(
    team: Team,
) -> None:
    (triage,) = await team.escalations(1)
    first = team.bot("first")
    await first.healthy(60)
    await until(lambda: len(team.reminders(triage)) >= 1, 30, "a first reminder", team.logs)
    await first.kill()

    async with team.bot("second") as second:
        await second.healthy(60)
        await until(lambda: len(team.reminders(triage)) >= 2, 30, "a second reminder", team.logs)

    # Nothing is left to send a third: the item ended with the second.
    assert await team.reminders_left() == []
    assert len(team.reminders(triage)) == 2
    assert "last reminder" in team.reminders(triage)[1]


async def test_two_replicas_send_each_reminder_once(team: Team) -> None:
    posts = await team.escalations(4)
    async with team.bot("one") as one, team.bot("two") as two:
        await asyncio.gather(one.healthy(60), two.healthy(60))
        await until(
            lambda: all(len(team.reminders(ts)) >= 2 for ts in posts),
            45,
            "two reminders for each escalation",
            team.logs,
        )

    assert await team.reminders_left() == []
    assert [len(team.reminders(ts)) for ts in posts] == [2, 2, 2, 2]
