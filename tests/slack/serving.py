"""A small Slack that can stall, refuse or accept a Socket Mode connection: what the start-up,
shutdown and probe tests drive (the bot itself is `tests.slack.processes.BotProcess`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.loopback import LoopbackServer


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
