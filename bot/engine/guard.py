"""Protects the bot's one IP address and its users' tokens from Ecwid's blocking.

Ecwid blocks a token for a long time after about 20 failing requests a minute, and an IP after
600 requests with non-working tokens. Every user's check leaves from the bot's address, so:
- a token whose check ended in a hard failure is not sent again for a cool-down, and
- the whole process keeps a budget of failing-token requests per minute.
Tokens are known here only by their fingerprint, never in plain text.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class TokenGuard(Protocol):
    """Where cool-downs and the failing-request budget live (process memory or a database)."""

    async def cooldown_remaining(self, fingerprint: str) -> float:
        """Seconds before this token may be sent to Ecwid again (0 when it may)."""
        ...

    async def cool_down(self, fingerprint: str) -> None:
        """Start this token's cool-down."""
        ...

    async def budget_wait(self, requests: int) -> float:
        """Seconds before `requests` more failing requests would fit in the budget (0: now)."""
        ...

    async def spend(self, failing_requests: int) -> None:
        """Record failing-token requests just sent."""
        ...

    async def reserve(self, requests: int) -> float:
        """Count `requests` against the budget before sending them, if they fit (returns 0);
        else the seconds to wait. Atomic: concurrent checks cannot overdraw the budget."""
        ...

    async def refund(self, requests: int) -> None:
        """Give back reserved requests that turned out not to fail."""
        ...


class MemoryTokenGuard:
    """A `TokenGuard` for one process."""

    WINDOW_S = 60.0

    def __init__(
        self,
        cooldown_s: float,
        budget_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cooldown_s = cooldown_s
        self._budget = budget_per_minute
        self._clock = clock
        self._cooling: dict[str, float] = {}
        self._spent: deque[float] = deque()

    async def cooldown_remaining(self, fingerprint: str) -> float:
        until = self._cooling.get(fingerprint)
        if until is None:
            return 0.0
        remaining = until - self._clock()
        if remaining <= 0:
            del self._cooling[fingerprint]
            return 0.0
        return remaining

    async def cool_down(self, fingerprint: str) -> None:
        now = self._clock()
        self._cooling = {fp: until for fp, until in self._cooling.items() if until > now}
        self._cooling[fingerprint] = now + self._cooldown_s

    async def budget_wait(self, requests: int) -> float:
        now = self._clock()
        self._forget_before(now - self.WINDOW_S)
        overflow = len(self._spent) + requests - self._budget
        if overflow <= 0 or not self._spent:
            return 0.0
        # The budget frees up as the oldest spent requests leave the window.
        oldest_needed = self._spent[min(overflow, len(self._spent)) - 1]
        return max(oldest_needed + self.WINDOW_S - now, 0.001)

    async def spend(self, failing_requests: int) -> None:
        now = self._clock()
        self._spent.extend([now] * failing_requests)

    async def reserve(self, requests: int) -> float:
        # No suspension between the test and the spending: atomic within the event loop.
        wait = await self.budget_wait(requests)
        if wait == 0:
            await self.spend(requests)
        return wait

    async def refund(self, requests: int) -> None:
        for _ in range(min(requests, len(self._spent))):
            self._spent.pop()

    def _forget_before(self, cutoff: float) -> None:
        while self._spent and self._spent[0] <= cutoff:
            self._spent.popleft()
