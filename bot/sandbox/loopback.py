"""What every local stand-in shares: an aiohttp application on a loopback port."""

from __future__ import annotations

import socket
from typing import Any, Self

from aiohttp import web


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, for a server started in another process."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class LoopbackServer:
    """Serves `application()` on `host:port` (port 0: any free one) inside `async with`."""

    backlog = 128

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def application(self) -> web.Application:
        raise NotImplementedError

    def runner_options(self) -> dict[str, Any]:
        return {"access_log": None}

    async def start(self) -> None:
        """Listen on the host and port."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        runner = web.AppRunner(self.application(), **self.runner_options())
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port, backlog=self.backlog)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening; answers still in progress are cut short."""
        runner, self._runner, self._port = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"


class AppServer(LoopbackServer):
    """A given aiohttp application (the bot's, a test's) on a free loopback port inside
    `async with`; `runner_options` go to `web.AppRunner` (aiohttp's defaults otherwise)."""

    def __init__(self, app: web.Application, **runner_options: Any) -> None:
        super().__init__("127.0.0.1", 0)
        self._app = app
        self._options = runner_options

    def application(self) -> web.Application:
        return self._app

    def runner_options(self) -> dict[str, Any]:
        return self._options
