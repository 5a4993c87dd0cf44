"""Remembering what was already handled: Slack's retried events, double-clicked submits."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class SeenKeys(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time `key` is seen within the time-to-live, False afterwards."""
        ...


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
