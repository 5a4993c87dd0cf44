"""Protects the bot's one IP address and its users' tokens from Ecwid's blocking.

Ecwid blocks a token for a long time after about 20 failing requests a minute, and an IP after
600 requests with non-working tokens. Every user's check leaves from the bot's address, so:
- one token is in flight at most once: a check of a token already being checked waits for that
  check's verdict (a *flight*, leased so that a crashed owner does not block it for ever);
- a token whose check ended in a hard failure is not sent again for a cool-down;
- a budget of failing-token requests per minute is kept. A check *reserves* its requests before
  sending them, and *settles* that very reservation when the answers are in: what did not fail
  is given back, what failed stays counted for a minute from the answer. Reservations only make
  a check wait for the answers in flight; only requests that really failed can make a check wait
  longer (see `Admission.failures_wait_s`).
Tokens are known here only by their fingerprint, never in plain text.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

WINDOW_S = 60.0
# How often a check blocked only by reservations in flight looks again (answers take ~100 ms).
RESERVATION_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to `TokenGuard.reserve`.

    `reservation` is set when the requests were counted against the budget (settle it);
    otherwise `wait_s` is when to ask again and `failures_wait_s` how long requests that really
    failed keep the asked-for requests out (0 when only reservations in flight do).
    """

    reservation: str | None
    wait_s: float = 0.0
    failures_wait_s: float = 0.0

    @property
    def granted(self) -> bool:
        return self.reservation is not None


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to `TokenGuard.claim_flight`: exactly one of the three is set."""

    flight: str | None = None  # this caller owns the flight: send, then `finish_flight`
    running: str | None = None  # another check owns this flight: wait for its verdict
    cooling_s: float = 0.0  # the token failed a moment ago: do not send it for this long


@dataclass(frozen=True, slots=True)
class FlightState:
    """What `TokenGuard.flight_state` knows of one flight."""

    running: bool
    verdict: str | None = None  # the owner's report as JSON, once it finished with one


class TokenGuard(Protocol):
    """Where flights, cool-downs and the failing-request budget live (memory or a database)."""

    async def claim_flight(self, fingerprint: str, lease_s: float) -> Claim:
        """Become the one check of this token in flight, unless another is or it is cooling.

        Atomic with the cool-down: a flight that ends in a cool-down is seen by every later
        claim."""
        ...

    async def finish_flight(
        self, fingerprint: str, flight: str, *, verdict: str | None, cool_down: bool
    ) -> None:
        """End this flight with its verdict (for checks waiting on it), cooling it if asked."""
        ...

    async def flight_state(self, fingerprint: str, flight: str) -> FlightState:
        """Whether this flight still runs, and its verdict once it is over."""
        ...

    async def cooldown_remaining(self, fingerprint: str) -> float:
        """Seconds before this token may be sent to Ecwid again (0 when it may)."""
        ...

    async def cool_down(self, fingerprint: str) -> None:
        """Start this token's cool-down."""
        ...

    async def reserve(self, requests: int, lease_s: float) -> Admission:
        """Count `requests` against the budget before sending them, if they fit. Atomic:
        concurrent checks cannot overdraw it. Unsettled after `lease_s`, a reservation counts
        as failed."""
        ...

    async def settle(self, reservation: str, failing: int) -> None:
        """Replace this reservation by the `failing` requests among those it reserved."""
        ...


class MemoryTokenGuard:
    """A `TokenGuard` for one process. `clock` is in seconds (monotonic)."""

    WINDOW_S = WINDOW_S

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
        # Failed requests (when the answer came, how many), oldest first.
        self._failed: deque[tuple[float, int]] = deque()
        # Reservations not settled yet: id → (requests, lease end).
        self._reserved: dict[str, tuple[int, float]] = {}
        # fingerprint → (flight id, lease end, finished, verdict)
        self._flights: dict[str, tuple[str, float, bool, str | None]] = {}
        self._ids = itertools.count(1)

    # Flights.

    async def claim_flight(self, fingerprint: str, lease_s: float) -> Claim:
        now = self._clock()
        current = self._flights.get(fingerprint)
        if current is not None and not current[2] and current[1] > now:
            return Claim(running=current[0])
        cooling = await self.cooldown_remaining(fingerprint)
        if cooling > 0:
            return Claim(cooling_s=cooling)
        flight = f"f{next(self._ids)}"
        self._flights[fingerprint] = (flight, now + lease_s, False, None)
        return Claim(flight=flight)

    async def finish_flight(
        self, fingerprint: str, flight: str, *, verdict: str | None, cool_down: bool
    ) -> None:
        if cool_down:
            await self.cool_down(fingerprint)
        current = self._flights.get(fingerprint)
        if current is not None and current[0] == flight:
            self._flights[fingerprint] = (flight, current[1], True, verdict)
        now = self._clock()
        self._flights = {
            fp: state
            for fp, state in self._flights.items()
            if not state[2] or state[1] > now or fp == fingerprint
        }

    async def flight_state(self, fingerprint: str, flight: str) -> FlightState:
        current = self._flights.get(fingerprint)
        if current is None or current[0] != flight:
            return FlightState(running=False)
        _, lease_end, finished, verdict = current
        if finished:
            return FlightState(running=False, verdict=verdict)
        return FlightState(running=lease_end > self._clock())

    # Cool-downs.

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

    # The budget.

    async def reserve(self, requests: int, lease_s: float) -> Admission:
        # No suspension between the test and the counting: atomic within the event loop.
        now = self._clock()
        self._expire(now)
        failed = [(at, count) for at, count in self._failed]
        in_flight = 0
        for count, lease_end in self._reserved.values():
            if lease_end > now:
                in_flight += count
            else:  # never settled (a cancelled check): taken as failed when its lease ended
                failed.append((lease_end, count))
        failed.sort()
        admission = admit(failed, in_flight, requests, self._budget, now)
        if admission is not None:
            return admission
        reservation = f"r{next(self._ids)}"
        self._reserved[reservation] = (requests, now + lease_s)
        return Admission(reservation)

    async def settle(self, reservation: str, failing: int) -> None:
        reserved = self._reserved.pop(reservation, None)
        if reserved is None:
            return
        failing = max(0, min(failing, reserved[0]))
        if failing:
            self._failed.append((self._clock(), failing))

    def _expire(self, now: float) -> None:
        cutoff = now - self.WINDOW_S
        while self._failed and self._failed[0][0] <= cutoff:
            self._failed.popleft()
        for reservation, (_, lease_end) in list(self._reserved.items()):
            if lease_end <= cutoff:
                del self._reserved[reservation]


def admit(
    failed: list[tuple[float, int]], in_flight: int, requests: int, budget: int, now: float
) -> Admission | None:
    """None when `requests` fit beside the failures of the window and the reservations in
    flight; else the refusal, with how long the failures alone keep them out.

    `failed` holds (time the failures were answered, count) within the window, oldest first;
    times are seconds on any one scale.
    """
    spent = sum(count for _, count in failed)
    if spent + in_flight + requests <= budget:
        return None
    failures_wait = 0.0
    overflow = spent + requests - budget
    if overflow > 0:
        # The budget frees up as the oldest failures leave the window.
        freed = 0
        frees_at = failed[-1][0] if failed else now
        for at, count in failed:
            freed += count
            if freed >= overflow:
                frees_at = at
                break
        failures_wait = max(frees_at + WINDOW_S - now, 0.001)
    wait = failures_wait if failures_wait > 0 else RESERVATION_POLL_S
    return Admission(None, wait_s=wait, failures_wait_s=failures_wait)
