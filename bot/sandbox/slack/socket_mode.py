"""Socket Mode on the stand-in: `apps.connections.open` (called with an app-level `xapp-…` token)
hands out a WebSocket URL on the stand-in's own server. The socket says hello, sends the
envelopes a test queued (events and slash commands, as Slack delivers them over Socket Mode) and
records what the bot sends back (its acks). `stall()` hands out a URL whose handshake never
completes, as a network that swallows the upgrade would. Refusing or failing the method itself
is the stand-in's usual `fail_next("apps.connections.open", …)`.

Shapes: Slack's Socket Mode docs (the `hello` message, envelopes with `envelope_id`, `type`,
`payload` and `accepts_response_payload`, acks echoing the `envelope_id`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

_LINK = "/socket-mode/link"
_STALL = "/socket-mode/stall"


class SocketMode:
    """The Socket Mode side of one `FakeSlack`."""

    def __init__(self) -> None:
        #: Envelopes to send on each new socket, after its hello.
        self.envelopes: list[dict[str, Any]] = []
        #: What the bot sent back over its sockets (its acks), in order.
        self.acks: list[dict[str, Any]] = []
        #: Sockets that completed their handshake.
        self.opened = 0
        self._stalled = False

    def stall(self, stalled: bool = True) -> None:
        """From now on, hand out a socket URL whose handshake never completes."""
        self._stalled = stalled

    def connections_open(self, base_url: str) -> dict[str, Any]:
        """`apps.connections.open`'s answer: the socket's URL on this server."""
        path = _STALL if self._stalled else _LINK
        return {"url": "ws" + base_url.removeprefix("http") + path}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(_LINK, self._link)
        app.router.add_get(_STALL, self._stall)

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.opened += 1
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
        await asyncio.Event().wait()  # until the server stops
        return web.Response()
