"""What the Slack bot's listeners share in one process: settings, the checker, background work."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from bot.check import ConnectionChecker, new_http_client
from bot.dedup import MemorySeenKeys, SeenKeys
from bot.settings import Settings
from bot.tasks import TaskSupervisor


@dataclass
class BotServices:
    settings: Settings
    http: httpx.AsyncClient = field(default_factory=new_http_client)
    tasks: TaskSupervisor = field(default_factory=TaskSupervisor)
    seen: SeenKeys = field(default_factory=MemorySeenKeys)
    checker: ConnectionChecker = field(init=False)

    def __post_init__(self) -> None:
        self.checker = ConnectionChecker(self.settings, self.http)

    async def aclose(self, drain_timeout_s: float = 30.0) -> None:
        """Let in-flight checks finish (up to the timeout), then release connections."""
        await self.tasks.drain(drain_timeout_s)
        await self.http.aclose()
