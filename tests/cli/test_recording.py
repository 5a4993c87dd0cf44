"""The command line's checks join the history when a database is configured, through the same
check-and-record service as Slack's."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.db.database import Database
from bot.destination import EntryPoint
from bot.engine.diagnosis import Diagnosis
from bot.sandbox.ecwid.server import EcwidSandbox


@pytest.fixture
def cli_env(sandbox: EcwidSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    monkeypatch.setenv("ECWID_API_URL", sandbox.api_url)
    monkeypatch.setenv("COLLECTION_HOSTS", sandbox.collection_host)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no .env here
    return url


async def _check(monkeypatch: pytest.MonkeyPatch, pasted: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(pasted))
    return await asyncio.to_thread(main, ["check", "-"])


async def test_a_command_line_check_is_recorded_as_asked_from_the_cli(
    sandbox: EcwidSandbox, cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _check(monkeypatch, sandbox.collection_url("connected")) == 0
    assert await _check(monkeypatch, sandbox.collection_url("free_plan")) == 1

    database = Database.from_url(cli_env)
    try:
        connected = await database.checks_for_store(sandbox.store("connected").store_id)
        free = await database.checks_for_store(sandbox.store("free_plan").store_id)
    finally:
        await database.close()
    assert [check.diagnosis for check in connected] == [Diagnosis.OK]
    assert [check.diagnosis for check in free] == [Diagnosis.PLAN_FREE]
    assert connected[0].destination.entry == EntryPoint.CLI


async def test_without_a_database_nothing_is_written(
    sandbox: EcwidSandbox, cli_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    assert await _check(monkeypatch, sandbox.collection_url("connected")) == 0
    assert list(tmp_path.iterdir()) == []
