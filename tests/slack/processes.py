"""The bot as a real process (`python -m bot.cli serve`), for the tests that start, signal or
kill it, and what they wait for."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.db.opening import SQLITE_FILE_NAME
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.loopback import free_port
from bot.sandbox.slack.webapi import FakeSlack
from bot.sandbox.stage import standin_values
from bot.settings import Settings, normalise_url
from bot.slack.http_app import EVENTS_PATH
from tests.forked import ForkedProcess, Process


def bot_env(slack: FakeSlack, sandbox: EcwidSandbox, secret: str, bot_token: str) -> dict[str, str]:
    """The settings of a bot in HTTP mode that talks to `slack` and `sandbox` and checks
    Slack's signatures with `secret`: what every process test starts from (`| {...}` for more).
    The stage's settings, as environment variables."""
    values = standin_values(sandbox, slack, secret, bot_token=bot_token)
    return {name.upper(): value for name, value in values.items()}


STOP_BOUND_S = 10.0
"""How long `serve` may take to exit after SIGINT or SIGTERM with nothing in flight."""
DRAIN_BOUND_S = 40.0
"""How long a bot gets to finish the checks in flight after SIGTERM."""

# Every setting the bot reads from its environment (in any case: the settings ignore it), which
# a test's own environment could hold.
_SETTING_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)


class BotProcess:
    """One `ecwid-connect serve`, its stderr in the file `log_path`: a fork of this worker's
    fork server (`tests.forked`), or with `interpreter` a new `python -m bot.cli serve`.

    It runs in the log's directory (no `.env` unless the test puts one there), with this
    process's environment less every setting, then HOST 127.0.0.1, a free PORT and DATA_DIR
    `data` beside the log, then `env`. `base_url` is its URL, `events` where Slack's requests go.
    Waits happen in a thread or by polling: the stand-ins, on the test's event loop, keep
    answering meanwhile. `with BotProcess(...)` kills it on the way out if it still runs (a
    failed assertion must not leave a bot behind); `async with` stops it (SIGTERM, checks in
    flight finished). The log stays readable afterwards (`log()`).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        port: int | None = None,
        interpreter: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        directory = log_path.parent
        base = {
            key: value for key, value in os.environ.items() if key.upper() not in _SETTING_VARIABLES
        }
        defaults = {
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "DATA_DIR": str(directory / "data"),
        }
        environment = base | defaults | env
        self.process: Process
        if not interpreter:
            self.process = ForkedProcess(["serve"], environment, directory, log_path)
            return
        with log_path.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                env=environment,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=output,
            )

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)

    async def __aenter__(self) -> BotProcess:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> str:
        return f"{self.base_url}{EVENTS_PATH}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}):\n{self.log()}")
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {text!r} in the log within {timeout} s:\n{self.log()}")

    async def healthy(self, timeout_s: float = 20) -> None:
        """Wait until /health answers 200; an error with the log if it exits or takes longer."""
        async with httpx.AsyncClient() as http:
            for _ in range(round(timeout_s / 0.05)):
                try:
                    if (await http.get(f"{self.base_url}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        raise AssertionError(f"the bot did not start; its log:\n{self.log()[-3000:]}")

    async def exit_code(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        return await asyncio.to_thread(self.process.wait, timeout)

    async def stop(
        self, sig: signal.Signals = signal.SIGTERM, *, within: float = DRAIN_BOUND_S
    ) -> int:
        """Send `sig` (unless it has ended); its exit code, which must come `within` seconds
        (else it is killed and the test fails with its log)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.to_thread(self.process.wait, within)
        except subprocess.TimeoutExpired:
            await self.kill()
            raise AssertionError(
                f"serve still running {within} s after {sig.name}:\n{self.log()[-3000:]}"
            ) from None

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no drain, as when a machine dies."""
        if self.process.poll() is None:
            self.process.kill()
        await asyncio.to_thread(self.process.wait, 15)


async def until(condition: Callable[[], bool], seconds: float, what: str, logs: Path) -> None:
    """Wait (0.1 s steps) until `condition()`; else fail with `what` and the tails of the bots'
    logs (`*.log` in `logs`)."""
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s; the bots' logs:\n{_log_tails(logs)}")


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
    raise AssertionError(
        f"{open_entries} journal entries still open after {seconds} s:\n{_log_tails(logs)}"
    )


def _log_tails(logs: Path) -> str:
    """The end of each bot's log (`*.log` in `logs`), for a failure's message."""
    return "\n".join(path.read_text()[-2000:] for path in sorted(logs.glob("*.log")))


def eyes_added(slack: FakeSlack) -> int:
    """How many 👀 the bot put on thread roots: one per check it has taken (and journaled)."""
    return sum(
        call.args.get("name") == "eyes" and call.response.get("ok") is True
        for call in slack.calls_to("reactions.add")
    )


def no_traceback(log: str) -> None:
    assert "Traceback" not in log, log
