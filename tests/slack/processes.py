"""The bot as a real process (`python -m bot.cli serve` in HTTP mode), for tests that kill it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from bot.sandbox.loopback import free_port


class BotProcess:
    """One `ecwid-connect serve`; `base` is its URL, `events` where Slack's requests go.

    Waits happen in a thread: the stand-ins, on the test's event loop, keep answering meanwhile.
    The process's log goes to `log` (a file), for a failing test to show.
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

    async def healthy(self) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(400):
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
