"""LOG_FORMAT=json: every line `serve` writes is one JSON object, redacted, and a line written
during a check carries that check's id, the id of its row in the history."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
from pathlib import Path

import pytest

from bot.db.database import Database
from bot.logs import JsonFormatter, configure_logging
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.slack.user import SlackUser
from bot.sandbox.slack.webapi import FakeSlack
from handlers.commands import COMMAND
from tests.slack.processes import STOP_BOUND_S, BotProcess, bot_env, no_traceback

CHANNEL = "C0LOGS"


@pytest.mark.process
async def test_json_lines_parse_and_carry_the_check_id(tmp_path: Path) -> None:
    secret = secrets.token_hex(16)
    async with EcwidSandbox() as sandbox, FakeSlack() as slack:
        env = bot_env(slack, sandbox, secret, "xoxb-json-logs") | {
            "LOG_FORMAT": "json",
        }
        urls = [sandbox.collection_url("connected"), sandbox.collection_url("revoked")]
        with BotProcess(env, tmp_path / "serve.log") as bot:
            await bot.wait_for_log("Listening for Slack on")
            async with SlackUser(bot.events, secret, slack) as user:
                for url in urls:
                    await user.slash_command(COMMAND, url, channel_id=CHANNEL)
            for _ in range(400):
                if bot.log().count("check finished") >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the rows are written just after
            assert await bot.stop(signal.SIGTERM, within=STOP_BOUND_S) == 0

    log = bot.log()
    no_traceback(log)
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    finished = [entry for entry in entries if entry["message"].startswith("check finished")]
    assert len(finished) == 2
    check_ids = {entry["check_id"] for entry in finished}
    assert len(check_ids) == 2
    for url in urls:
        assert url not in log

    database = Database.from_url(f"sqlite:///{tmp_path / 'data' / 'ecwid-connect.sqlite3'}")
    try:
        rows = await database.checks_by_requester("U123")
    finally:
        await database.close()
    assert {row.id for row in rows} == check_ids


def test_a_json_line_outside_a_check_has_no_check_id_and_is_redacted(
    capsys: object,
) -> None:
    configure_logging("INFO", "json")
    record = logging.getLogger("test").makeRecord(
        "test",
        logging.WARNING,
        __file__,
        1,
        "pasted %s",
        (
            "https://ecwid-api-playground.s3.amazonaws.com/abc/secret_abcdefghijklmnopqrstuvwxyz0123.json.postman_collection",
        ),
        None,
    )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "check_id" not in entry
    assert "secret_abcdefghijklmnopqrstuvwxyz0123" not in line
    assert entry["level"] == "WARNING"
