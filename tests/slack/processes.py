"""The bot as a real process (`python -m bot.cli serve` in HTTP mode), for tests that kill it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.history.database import SQLITE_FILE_NAME, normalise_url
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.loopback import free_port
from bot.sandbox.slack.webapi import FakeSlack


def bot_env(slack: FakeSlack, sandbox: EcwidSandbox, secret: str, bot_token: str) -> dict[str, str]:
    """The settings of a bot in HTTP mode that talks to `slack` and `sandbox` and checks
    Slack's signatures with `secret`: what every process test starts from (`| {...}` for more)."""
    return {
        "SLACK_API_URL": slack.api_url,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": secret,
        "ECWID_API_URL": sandbox.api_url,
        "COLLECTION_HOSTS": sandbox.collection_host,
    }


class BotProcess:
    """One `ecwid-connect serve`; `base` is its URL, `events` where Slack's requests go.

    Waits happen in a thread: the stand-ins, on the test's event loop, keep answering meanwhile.
    The process's log goes to `log` (a file), for a failing test to show. `async with
    BotProcess(...) as bot:` stops it (`stop`) on the way out.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.events = f"{self.base}/slack/events"
        self.log = log
        with log.open("a") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                env=os.environ | env | {"PORT": str(self.port)},
                stdout=subprocess.DEVNULL,
                stderr=output,
            )

    async def __aenter__(self) -> BotProcess:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def healthy(self, timeout_s: float = 20) -> None:
        """Wait until /health answers 200; an error with the log if it exits or takes longer."""
        async with httpx.AsyncClient() as http:
            for _ in range(round(timeout_s / 0.05)):
                try:
                    if (await http.get(f"{self.base}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        raise AssertionError(f"the bot did not start; its log:\n{self.log.read_text()[-3000:]}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no drain, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 15)

    async def stop(self, timeout: float = 40) -> int:
        """SIGTERM, then wait for it to finish its checks and exit; its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait, 15)
            raise


async def until(condition: Callable[[], bool], seconds: float, what: str, logs: Path) -> None:
    """Wait (0.1 s steps) until `condition()`; else fail with `what` and the tails of the bots'
    logs (`*.log` in `logs`)."""
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    tails = "\n".join(path.read_text()[-2000:] for path in sorted(logs.glob("*.log")))
    raise AssertionError(f"{what} within {seconds} s; the bots' logs:\n{tails}")


async def journal_settled(env: dict[str, str], seconds: float, logs: Path) -> None:
    """Wait until no check in the journal of the bots started with `env` is still open (its
    DATABASE_URL, else the SQLite file under its DATA_DIR): from then on no process has anything
    left to answer, so whatever Slack holds is final once they have stopped."""
    url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['DATA_DIR']) / SQLITE_FILE_NAME}"
    engine = create_async_engine(normalise_url(url), poolclass=NullPool)
    query = sa.text("SELECT count(*) FROM pending_checks WHERE state <> 'done'")
    open_entries = -1
    try:
        for _ in range(int(seconds / 0.1)):
            async with engine.connect() as connection:
                open_entries = int((await connection.execute(query)).scalar_one())
            if open_entries == 0:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    tails = "\n".join(path.read_text()[-2000:] for path in sorted(logs.glob("*.log")))
    raise AssertionError(f"{open_entries} journal entries still open after {seconds} s:\n{tails}")


def eyes_added(slack: FakeSlack) -> int:
    """How many 👀 the bot put on thread roots: one per check it has taken (and journaled)."""
    return sum(
        call.args.get("name") == "eyes" and call.response.get("ok") is True
        for call in slack.calls_to("reactions.add")
    )
