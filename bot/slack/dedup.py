"""Remembering what was already handled: Slack's retried events, double-clicked submits."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from bot.db.health import DatabaseHealth


class SeenKeys(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time `key` is seen within the time-to-live, False afterwards."""
        ...


async def first_time_for_all(seen: SeenKeys, keys: list[str]) -> bool:
    """Whether none of `keys` (an event's ID, its message's) was seen before; each is marked
    seen as it is asked. Slack retries an event it thinks was not delivered."""
    for key in keys:
        if not await seen.first_time(key):
            return False
    return True


class MemorySeenKeys:
    """`SeenKeys` for one process, bounded in size and time."""

    def __init__(
        self,
        ttl_s: float = 600.0,
        max_keys: int = 100_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        now = self._clock()
        while self._seen and (
            next(iter(self._seen.values())) < now or len(self._seen) >= self._max_keys
        ):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now + self._ttl_s
        return True


class FallbackSeenKeys:
    """`SeenKeys` in the database (`primary`, shared by replicas) that falls back to process
    memory while the database is unreachable, telling `health`.

    Every key is remembered in memory too, so a retry arriving during an outage is still caught
    when its first delivery came before it, and a key first seen during an outage is still
    caught once the database answers again. While the database answers, its verdict decides
    alone: of concurrent callers with one key, exactly one is told it is new. During an outage,
    a retry reaching another replica may be answered twice: de-duplication is then per process.
    """

    def __init__(self, primary: SeenKeys, health: DatabaseHealth, *, ttl_s: float = 600.0) -> None:
        self._primary = primary
        self._memory = MemorySeenKeys(ttl_s)
        # The keys seen while the database did not answer: it does not know them.
        self._unrecorded = MemorySeenKeys(ttl_s)
        self._health = health

    async def first_time(self, key: str) -> bool:
        locally_new = await self._memory.first_time(key)
        ticket = self._health.attempt()
        try:
            new = await self._primary.first_time(key)
        except Exception as error:
            self._health.failed("de-duplicating a Slack request", error, ticket)
            await self._unrecorded.first_time(key)
            return locally_new
        self._health.succeeded(ticket)
        return new and await self._unrecorded.first_time(key)
