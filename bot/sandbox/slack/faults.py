"""Failing the stand-in's calls on purpose: the next calls of a method (`fail_next`; `drop_next`
for their connections), a random fraction of them in every way Slack fails (`inject_faults`:
429, 500, a connection dropped before or after the call was applied), or holding them as a slow
Slack would (`hold`)."""

from __future__ import annotations

import asyncio
import copy
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass(slots=True)
class Failure:
    error: str
    status: int
    retry_after: int | None
    response: dict[str, Any] | None = None


@dataclass(slots=True)
class FaultPlan:
    fraction: float
    methods: frozenset[str]
    kinds: tuple[str, ...]
    retry_after: int
    random: random.Random


FAULT_KINDS = ("rate_limited", "server_error", "dropped_before", "dropped_after")
"""What `inject_faults` may do to a call: 429 with Retry-After, 500, a connection dropped before
the call is done, or after it is done (the bot cannot tell whether it was)."""


class FaultInjection:
    """The failures planned for the calls to come."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[Failure]] = {}
        self._faults: FaultPlan | None = None
        self._holds: dict[str, asyncio.Event] = {}
        self._held: Counter[str] = Counter()
        self._drops: dict[str, deque[str]] = {}

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail the next `times` calls of `method` (or `response_url`) without doing them.

        `error` alone answers `{"ok": false, "error": error}` with HTTP 200; `status=429`
        answers `ratelimited` with `Retry-After: retry_after` (default 1); 500 and 503 answer a
        server error. `response` answers that body as it is (a recorded Slack answer).
        """
        if response is not None:
            error = str(response.get("error") or error or "fatal_error")
        if error is None and status == 200:
            raise ValueError("give an error, a non-200 status or both")
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = Failure(
            error or _DEFAULT_ERRORS.get(status, "fatal_error"),
            status,
            retry_after,
            copy.deepcopy(dict(response)) if response is not None else None,
        )
        self._failures.setdefault(method, deque()).extend([failure] * times)

    def drop_next(self, method: str, *, applied: bool = True, times: int = 1) -> None:
        """Drop the connection of the next `times` calls of `method` without answering: after
        the call was applied (`applied`, the default: the caller cannot know it went through)
        or before. Recorded with `dropped` set, as `inject_faults` records its drops."""
        kind = "dropped_after" if applied else "dropped_before"
        self._drops.setdefault(method, deque()).extend([kind] * times)

    def inject_faults(
        self,
        fraction: float,
        *,
        methods: tuple[str, ...] = ("chat.postMessage",),
        kinds: tuple[str, ...] = FAULT_KINDS,
        retry_after: int = 1,
        seed: int = 0,
    ) -> None:
        """From now on, fail `fraction` of the calls of `methods`, each in one of `kinds`
        (`FAULT_KINDS`) picked at random (seeded: the same run fails the same way).

        A dropped call is recorded with `dropped` set; `dropped_after` ones were applied.
        `inject_faults(0)` stops.
        """
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds are among {FAULT_KINDS}")
        self._faults = (
            FaultPlan(fraction, frozenset(methods), kinds, retry_after, random.Random(seed))  # noqa: S311
            if fraction > 0
            else None
        )

    def hold(self, method: str) -> asyncio.Event:
        """Keep every call of `method` waiting, as a slow Slack would, until the returned event
        is set; then they are answered as usual."""
        gate = self._holds[method] = asyncio.Event()
        return gate

    def held(self, method: str) -> int:
        """How many calls of `method` are waiting on `hold`'s event now."""
        return self._held[method]

    async def _wait_if_held(self, method: str) -> None:
        if (gate := self._holds.get(method)) is None:
            return
        self._held[method] += 1
        try:
            await gate.wait()
        finally:
            self._held[method] -= 1

    def _take_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    def _pick_fault(self, method: str) -> str | None:
        plan = self._faults
        if plan is None or method not in plan.methods or plan.random.random() >= plan.fraction:
            return None
        return plan.random.choice(plan.kinds)

    def _planned_failure(self, method: str) -> tuple[Failure | None, str | None]:
        """What befalls this call of `method`: a failure to answer instead of doing it, or a
        fault kind (`FAULT_KINDS`) for the connection, or neither."""
        failure = self._take_failure(method)
        drops = self._drops.get(method)
        if failure is None and drops:
            return None, drops.popleft()
        fault = self._pick_fault(method) if failure is None else None
        if fault == "rate_limited" and self._faults is not None:
            return Failure("ratelimited", 429, self._faults.retry_after), None
        if fault == "server_error":
            return Failure("internal_error", 500, None), None
        return failure, fault


def failure_headers(failure: Failure) -> dict[str, str]:
    return {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
