"""`ecwid-connect serve` as a real process, and a small Slack that can stall, refuse or accept a
Socket Mode connection: what the start-up, shutdown and probe tests drive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.loopback import LoopbackServer, free_port

STOP_BOUND_S = 10.0
"""How long `serve` may take to exit after SIGINT or SIGTERM with nothing in flight."""

_SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_MODE",
    "SLACK_API_URL",
    "DATABASE_URL",
    "CREDENTIALS_KEY",
    "COLLECTION_HOSTS",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "HOST",
    "PORT",
)


class BotProcess:
    """`python -m bot.cli serve` in `cwd` (no `.env` unless the test puts one there), with
    exactly `env` on top of this process's environment less every setting; stderr kept.

    A context manager: `with BotProcess(...) as bot:` kills the process on the way out if it
    is still running (a failed assertion must not leave a bot behind); its log stays readable
    after the block."""

    def __init__(self, env: dict[str, str], cwd: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.cwd = cwd
        self._log = cwd / f"serve-{self.port}.log"
        base = {key: value for key, value in os.environ.items() if key not in _SLACK_VARIABLES}
        defaults = {"PORT": str(self.port), "HOST": "127.0.0.1", "DATA_DIR": str(cwd / "data")}
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                env=base | defaults | env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self._log.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}):\n{self.log()}")
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {text!r} in the log within {timeout} s:\n{self.log()}")

    async def exit_code(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        return await asyncio.to_thread(self.process.wait, timeout)

    async def stop(self, sig: signal.Signals) -> int:
        """Send `sig`; the exit code, which must come within STOP_BOUND_S."""
        self.process.send_signal(sig)
        try:
            return await asyncio.to_thread(self.process.wait, STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"serve still running {STOP_BOUND_S} s after {sig.name}:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class MiniSlack(LoopbackServer):
    """The few Web API methods start-up uses, with behaviours a test chooses:

    `auth` is `ok`, `refuse` (invalid_auth) or `hang`; `connections` (apps.connections.open) is
    `ok` (a WebSocket here that says hello and stays open), `fail` (a retryable error),
    `refuse` (invalid_auth) or `stall` (a WebSocket URL whose handshake never completes).
    """

    def __init__(self, *, auth: str = "ok", connections: str = "ok") -> None:
        super().__init__("127.0.0.1", 0)
        self.auth = auth
        self.connections = connections
        self.connection_attempts = 0
        self.sockets = 0
        #: Envelopes to send on the next WebSocket, as Slack delivers events and commands.
        self.envelopes: list[dict[str, Any]] = []
        #: What the bot sent back over the WebSocket (its acks).
        self.acks: list[dict[str, Any]] = []

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_post("/api/apps.connections.open", self._connections_open)
        app.router.add_get("/link", self._link)
        app.router.add_get("/stall", self._stall)
        return app

    def runner_options(self) -> dict[str, Any]:
        return {"access_log": None, "shutdown_timeout": 0.5}

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    async def _auth_test(self, _request: web.Request) -> web.Response:
        if self.auth == "hang":
            await asyncio.sleep(3600)
        if self.auth == "refuse":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(
            {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Mini Team",
                "user": "ecwid-connect",
                "team_id": "T0MINI",
                "user_id": "UBOTMINI",
                "bot_id": "BMINI",
            }
        )

    async def _connections_open(self, _request: web.Request) -> web.Response:
        self.connection_attempts += 1
        if self.connections == "fail":
            return web.json_response({"ok": False, "error": "internal_error"})
        if self.connections == "refuse":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        path = "/stall" if self.connections == "stall" else "/link"
        url = f"ws://127.0.0.1:{self.port}{path}"
        return web.json_response({"ok": True, "url": url})

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.sockets += 1
        await socket.send_json({"type": "hello", "num_connections": 1})
        for envelope in self.envelopes:
            await socket.send_json(envelope)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
            elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return socket

    async def _stall(self, _request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()


def no_traceback(log: str) -> None:
    assert "Traceback" not in log, log
