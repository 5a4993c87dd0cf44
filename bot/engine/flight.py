"""Asking Ecwid for one check under the token guard (`bot.engine.guard`), so that Ecwid never
blocks a user's token or the bot's address.

One flight per token: concurrent checks of a token in this process share one set of requests,
and a check in another process waits for the owner's verdict. The requests are sent only within
the failing-token budget, reserved just before and settled with what failed; a verdict that
blames the token (`Diagnosis.blames_token`) cools it down as the flight ends.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.engine.diagnosis import Diagnosis, Entity, StepName
from bot.engine.ecwid import EcwidClient
from bot.engine.guard import TokenGuard
from bot.engine.ladder import Ladder
from bot.engine.redaction import StoreCredentials
from bot.engine.report import CheckReport
from bot.engine.verdict import PUBLIC_TOKEN_CANNOT_READ, Outcome, Verdict, attempt

# A check waiting for the budget goes ahead only with this much of its deadline left for Ecwid.
_ANSWER_MARGIN_S = 2.0
# Flights and reservations are leased for the rest of the check's deadline plus this.
_LEASE_MARGIN_S = 5.0
# How often a check waiting on another process's check of the same token looks for its verdict.
_VERDICT_POLL_S = 0.1


class TokenFlights:
    """Sends each check's requests to Ecwid under the guard; one instance serves a process."""

    def __init__(
        self,
        guard: TokenGuard,
        ecwid: EcwidClient,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._guard = guard
        self._ecwid = ecwid
        self._clock = clock
        self._sleep = sleep
        # The check of each token in flight in this process, by fingerprint.
        self._flights: dict[str, asyncio.Future[_Shared]] = {}
        # Checks waiting for the failing-token budget, served in arrival order (a fair lock).
        self._budget_queue = asyncio.Lock()
        # Set each time a reservation is settled: a check waiting on reservations looks again.
        self._settled = asyncio.Event()

    async def ask(
        self, ladder: Ladder, credentials: StoreCredentials, *, profile_only: bool = False
    ) -> CheckReport:
        """Ecwid's verdict on `credentials`, as the last rungs of `ladder`. `profile_only`:
        one request, the store profile (a follow-up's cheap look); its partial verdict is
        never handed to other checks of the token, which ask on their own."""
        entities = [
            entity
            for entity in Entity
            if not profile_only
            and not (credentials.token.is_public and entity in PUBLIC_TOKEN_CANNOT_READ)
        ]
        fingerprint = credentials.token.fingerprint
        # Single flight in this process: a check of a token already in flight shares its answers.
        while (flight := self._flights.get(fingerprint)) is not None:
            ladder.tell(StepName.PROFILE, "waiting for the check of the same token in progress")
            shared = await asyncio.shield(flight)
            if shared.answer is not None and shared.store_id == credentials.store_id:
                return shared.answer.report_for(ladder, credentials)
        flight = asyncio.get_running_loop().create_future()
        self._flights[fingerprint] = flight
        answer: _Answer | None = None
        try:
            answer, report = await self._fly(ladder, credentials, entities, shared=not profile_only)
        finally:
            flight.set_result(_Shared(credentials.store_id, None if profile_only else answer))
            del self._flights[fingerprint]
        return report

    async def _fly(
        self,
        ladder: Ladder,
        credentials: StoreCredentials,
        entities: list[Entity],
        *,
        shared: bool = True,
    ) -> tuple[_Answer, CheckReport]:
        """Own this token's flight across processes (or wait for its owner's verdict), ask
        Ecwid, and end the flight with the verdict and, after a hard failure, a cool-down."""
        fingerprint = credentials.token.fingerprint
        while True:
            claim = await self._guard.claim_flight(fingerprint, self._lease_s(ladder))
            if claim.cooling_s > 0:
                answer: _Answer = _HeldBack(
                    Diagnosis.THROTTLED,
                    "This token failed a moment ago; it is not sent to Ecwid again yet.",
                    retry_after_s=math.ceil(claim.cooling_s),
                )
                return answer, answer.report_for(ladder, credentials)
            if claim.flight is not None:
                break
            assert claim.running is not None
            remote = await self._await_verdict(ladder, fingerprint, claim.running)
            if remote is not None and remote.store_id == credentials.store_id:
                answer = _Remote(remote)
                return answer, answer.report_for(ladder, credentials)
        report: CheckReport | None = None
        try:
            answer = await self._send(ladder, credentials, entities)
            report = answer.report_for(ladder, credentials)
        finally:
            await self._guard.finish_flight(
                fingerprint,
                claim.flight,
                verdict=report.model_dump_json() if report is not None and shared else None,
                cool_down=report is not None and report.diagnosis.blames_token,
            )
        return answer, report

    async def _await_verdict(
        self, ladder: Ladder, fingerprint: str, flight: str
    ) -> CheckReport | None:
        """Another process is checking this token: its verdict, or None if it left none."""
        ladder.tell(StepName.PROFILE, "waiting for the check of the same token in progress")
        while True:
            state = await self._guard.flight_state(fingerprint, flight)
            if not state.running:
                if state.verdict is None:
                    return None
                return CheckReport.model_validate_json(state.verdict)
            await self._sleep(_VERDICT_POLL_S)

    async def _send(
        self, ladder: Ladder, credentials: StoreCredentials, entities: list[Entity]
    ) -> _Answer:
        requests = len(entities) + 1
        reservation = await self._reserve(ladder, requests)
        if isinstance(reservation, _HeldBack):
            return reservation
        for step in (StepName.PROFILE, *(entity.step for entity in entities)):
            ladder.begin(step)
        failing = requests  # until the answers are in, every request may have failed
        try:
            profile_outcome, *count_outcomes = await asyncio.gather(
                attempt(StepName.PROFILE, self._ecwid.profile(credentials)),
                *(attempt(e.step, self._ecwid.count(credentials, e)) for e in entities),
            )
            failing = sum(
                1
                for outcome in (profile_outcome, *count_outcomes)
                if outcome.error is not None and outcome.error.diagnosis.blames_token
            )
        finally:
            await self._guard.settle(reservation, failing)
            self._settled.set()
            self._settled = asyncio.Event()
        return _FanOut(profile_outcome, count_outcomes)

    async def _reserve(self, ladder: Ladder, requests: int) -> str | _HeldBack:
        """A reservation of `requests` failing-token requests, waiting in arrival order while
        the budget is in use; `throttled` only when failures keep it spent past the deadline."""
        told = False
        async with self._budget_queue:
            while True:
                admission = await self._guard.reserve(requests, self._lease_s(ladder))
                if admission.reservation is not None:
                    return admission.reservation
                remaining = ladder.deadline - self._clock() - _ANSWER_MARGIN_S
                if admission.failures_wait_s > remaining:
                    return _HeldBack(
                        Diagnosis.THROTTLED,
                        "Too many failing checks in the last minute; "
                        "waiting protects everyone's access.",
                        retry_after_s=math.ceil(admission.failures_wait_s),
                    )
                if admission.failures_wait_s > 0 and not told:
                    ladder.tell(
                        StepName.PROFILE,
                        f"waiting about {math.ceil(admission.failures_wait_s)} s: other checks'"
                        " failing tokens used this minute's budget for Ecwid",
                    )
                    told = True
                await self._nap(
                    max(min(admission.wait_s, remaining), 0.001),
                    wake_on_settle=admission.failures_wait_s == 0,
                )

    async def _nap(self, seconds: float, *, wake_on_settle: bool) -> None:
        if not wake_on_settle:
            await self._sleep(seconds)
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        settled = asyncio.ensure_future(self._settled.wait())
        try:
            await asyncio.wait((sleeper, settled), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            settled.cancel()

    def _lease_s(self, ladder: Ladder) -> float:
        return max(ladder.deadline - self._clock(), 0.0) + _LEASE_MARGIN_S


@dataclass(frozen=True, slots=True)
class _HeldBack:
    """The check ends before Ecwid is asked (the guard's `throttled`)."""

    diagnosis: Diagnosis
    summary: str
    retry_after_s: int | None = None

    def report_for(self, ladder: Ladder, credentials: StoreCredentials) -> CheckReport:
        return ladder.stopped(self.diagnosis, self.summary, retry_after_s=self.retry_after_s)


@dataclass(frozen=True, slots=True)
class _FanOut:
    """Ecwid's answers to one check's requests, which every check of the flight reads."""

    profile: Outcome
    counts: list[Outcome]

    def report_for(self, ladder: Ladder, credentials: StoreCredentials) -> CheckReport:
        return Verdict(ladder, credentials, self.profile, self.counts).report()


@dataclass(frozen=True, slots=True)
class _Remote:
    """The verdict of the same token's check in another process."""

    report: CheckReport

    def report_for(self, ladder: Ladder, credentials: StoreCredentials) -> CheckReport:
        return ladder.adopt(self.report)


_Answer = _HeldBack | _FanOut | _Remote


@dataclass(frozen=True, slots=True)
class _Shared:
    """What a flight's owner leaves for the checks of this process that waited on it."""

    store_id: int
    answer: _Answer | None  # None: the owner ended without an answer (time-out, bug)
