"""The guard's promises, as properties of whole connection checks under any concurrency.

Hypothesis plays schedules against two `ConnectionChecker`s ("replicas") sharing one guard – in
memory, or in the database (SQLite, PostgreSQL) – on a fake clock: checks of working, revoked
and suspended tokens arrive at any moment, Ecwid answers each request whenever the schedule says
(within a second), and time jumps. Ecwid here is a stand-in client that logs when each request
was sent and answered. Whatever the schedule:
- never more failing-token requests to Ecwid in any 60-second window than the budget;
- a failing token is never sent twice within its cool-down (nor twice at once);
- no working store is answered `throttled` unless failures have spent the budget;
- every check ends with the diagnosis of its token, or `throttled`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.db.database import Database
from bot.db.shared import DatabaseTokenGuard
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, Entity
from bot.engine.ecwid import EcwidClient, StoreProfile
from bot.engine.errors import EcwidError
from bot.engine.guard import Admission, Claim, FlightState, MemoryTokenGuard, TokenGuard
from bot.engine.redaction import StoreCredentials
from bot.settings import load_settings
from tests.db_fixtures import START, database_url_fixture  # noqa: F401

BUDGET = 10  # two failing checks spend it
COOLDOWN_S = 60.0
DEADLINE_S = 20.0
WINDOW_S = 60.0
ANSWER_WITHIN_S = 1.0  # Ecwid answers (or the client times out) within this, virtually

WORKING, REVOKED, SUSPENDED, PUBLIC = "working", "revoked", "suspended", "public"
# (kind, token); a store ID per token. Several tokens of each kind, so that checks of
# different failing tokens compete for the budget while those of one token share a flight.
TOKENS = [
    (WORKING, "secret_" + "W1" * 16),
    (WORKING, "secret_" + "W2" * 16),
    (PUBLIC, "public_" + "P1" * 16),
    (REVOKED, "secret_" + "R1" * 16),
    (REVOKED, "secret_" + "R2" * 16),
    (REVOKED, "secret_" + "R3" * 16),
    (SUSPENDED, "secret_" + "S1" * 16),
]
EXPECTED = {
    WORKING: Diagnosis.OK,
    PUBLIC: Diagnosis.TOKEN_PUBLIC,
    REVOKED: Diagnosis.TOKEN_INVALID,
    SUSPENDED: Diagnosis.STORE_SUSPENDED,
}


async def run_inline(function: Callable[[], Any]) -> Any:
    return function()


class FakeTime:
    """A clock and a `sleep` that move only when the schedule advances them."""

    def __init__(self, world: World) -> None:
        self.now = 0.0
        self._world = world
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        self._world.activity += 1
        try:
            await future
        finally:
            self._world.activity += 1

    def next_wake(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


@dataclass
class Request:
    token: str
    endpoint: str
    sent: float
    failing: bool
    answered: float | None = None
    reply: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class FakeEcwid(EcwidClient):
    """Ecwid as the schedule answers it; every request is logged with its virtual times."""

    def __init__(self, world: World) -> None:
        super().__init__(httpx.AsyncClient(), "http://ecwid.invalid/api/v3")
        self._world = world

    async def profile(self, credentials: StoreCredentials) -> tuple[StoreProfile, bool]:
        kind = await self._ask(credentials, "profile")
        if kind == REVOKED:
            raise EcwidError(Diagnosis.TOKEN_INVALID, "refused", status=403)
        return StoreProfile(
            store_id=credentials.store_id,
            store_name="Shop",
            store_url=None,
            plan_name=None,
            features=frozenset({"PREMIUM"}),
            closed=False,
            suspended=kind == SUSPENDED,
        ), False

    async def count(self, credentials: StoreCredentials, entity: Entity) -> tuple[int, bool]:
        kind = await self._ask(credentials, entity.value)
        if kind == REVOKED:
            raise EcwidError(Diagnosis.TOKEN_INVALID, "refused", status=403)
        if kind == SUSPENDED:
            raise EcwidError(Diagnosis.STORE_SUSPENDED, "suspended", status=402)
        return 3, False

    async def _ask(self, credentials: StoreCredentials, endpoint: str) -> str:
        token = credentials.token.reveal()
        kind = self._world.kinds[token]
        failing = kind == REVOKED or (kind == SUSPENDED and endpoint != "profile")
        request = Request(token, endpoint, self._world.time.now, failing)
        self._world.requests.append(request)
        self._world.activity += 1
        await request.reply
        request.answered = self._world.time.now
        self._world.activity += 1
        return kind


class CountingGuard:
    """Delegates to a guard and counts the calls in progress (a database call is real I/O)."""

    def __init__(self, inner: TokenGuard, world: World) -> None:
        self._inner = inner
        self._world = world

    async def _call(self, call: Awaitable[Any]) -> Any:
        self._world.busy += 1
        try:
            return await call
        finally:
            self._world.busy -= 1
            self._world.activity += 1

    async def claim_flight(self, fingerprint: str, lease_s: float) -> Claim:
        claim: Claim = await self._call(self._inner.claim_flight(fingerprint, lease_s))
        return claim

    async def finish_flight(
        self, fingerprint: str, flight: str, *, verdict: str | None, cool_down: bool
    ) -> None:
        await self._call(
            self._inner.finish_flight(fingerprint, flight, verdict=verdict, cool_down=cool_down)
        )

    async def flight_state(self, fingerprint: str, flight: str) -> FlightState:
        state: FlightState = await self._call(self._inner.flight_state(fingerprint, flight))
        return state

    async def cooldown_remaining(self, fingerprint: str) -> float:
        remaining: float = await self._call(self._inner.cooldown_remaining(fingerprint))
        return remaining

    async def cool_down(self, fingerprint: str) -> None:
        await self._call(self._inner.cool_down(fingerprint))

    async def reserve(self, requests: int, lease_s: float) -> Admission:
        admission: Admission = await self._call(self._inner.reserve(requests, lease_s))
        return admission

    async def settle(self, reservation: str, failing: int) -> None:
        await self._call(self._inner.settle(reservation, failing))


@dataclass
class Finished:
    kind: str
    token: str
    arrived: float
    ended: float
    diagnosis: Diagnosis


class World:
    """Two replicas, their guards, the fake Ecwid and the fake clock."""

    def __init__(self, guards: Callable[[FakeTime], list[TokenGuard]]) -> None:
        self.activity = 0
        self.busy = 0
        self.time = FakeTime(self)
        self.requests: list[Request] = []
        self.kinds = {token: kind for kind, token in TOKENS}
        self.finished: list[Finished] = []
        self.tasks: list[asyncio.Task[None]] = []
        check_settings = load_settings(
            env_file=None,
            check_timeout_s=DEADLINE_S,
            token_cooldown_s=COOLDOWN_S,
            failing_token_budget_per_min=BUDGET,
        )
        ecwid = FakeEcwid(self)
        self.checkers = [
            ConnectionChecker(
                check_settings,
                ecwid._http,
                CountingGuard(guard, self),
                ecwid=ecwid,
                clock=self.time.clock,
                sleep=self.time.sleep,
                offload=run_inline,  # parsing takes no time on this clock
            )
            for guard in guards(self.time)
        ]

    def arrive(self, replica: int, token_index: int) -> None:
        kind, token = TOKENS[token_index]
        arrived = self.time.now

        async def check() -> None:
            report = await self.checkers[replica].check_store(str(1000 + token_index), token)
            self.finished.append(Finished(kind, token, arrived, self.time.now, report.diagnosis))
            self.activity += 1

        self.tasks.append(asyncio.ensure_future(check()))

    def pending(self) -> list[Request]:
        return [r for r in self.requests if not r.reply.done()]

    def answer(self, request: Request) -> None:
        if not request.reply.done():
            request.reply.set_result(None)

    async def settle_down(self) -> None:
        """Until every check waits on the fake clock or on Ecwid (or has ended)."""
        quiet, seen = 0, -1
        while quiet < 30:
            await asyncio.sleep(0 if self.busy == 0 else 0.001)
            if self.busy == 0 and self.activity == seen:
                quiet += 1
            else:
                quiet, seen = 0, self.activity

    async def advance(self, seconds: float) -> None:
        """Move the clock, waking sleepers in order; Ecwid answers within ANSWER_WITHIN_S."""
        target = self.time.now + seconds
        while True:
            await self.settle_down()
            due = [r.sent + ANSWER_WITHIN_S for r in self.pending()]
            wake = self.time.next_wake()
            moments = [t for t in (*due, wake) if t is not None and t <= target]
            if not moments:
                break
            self.time.now = max(self.time.now, min(moments))
            for request in self.pending():
                if request.sent + ANSWER_WITHIN_S <= self.time.now:
                    self.answer(request)
            self.time.wake_due()
        self.time.now = target
        await self.settle_down()

    async def finish(self) -> None:
        for _ in range(400):
            if all(task.done() for task in self.tasks):
                break
            for request in self.pending():
                self.answer(request)
            await self.advance(1.0)
        assert all(task.done() for task in self.tasks), "a check never ended"
        for task in self.tasks:
            task.result()

    def check_invariants(self) -> None:
        failing_sends = sorted(r.sent for r in self.requests if r.failing)
        for start in failing_sends:
            in_window = [t for t in failing_sends if start <= t < start + WINDOW_S]
            assert len(in_window) <= BUDGET, f"{len(in_window)} failing requests in a minute"

        by_endpoint: dict[tuple[str, str], list[Request]] = {}
        for request in self.requests:
            if self.kinds[request.token] in (REVOKED, SUSPENDED):
                by_endpoint.setdefault((request.token, request.endpoint), []).append(request)
        for sends in by_endpoint.values():
            for first, then in itertools.pairwise(sends):
                assert first.answered is not None
                assert then.sent >= first.answered + COOLDOWN_S, "sent again within cool-down"

        failures = [(r.answered, 1) for r in self.requests if r.failing and r.answered is not None]
        for done in self.finished:
            assert done.diagnosis in (EXPECTED[done.kind], Diagnosis.THROTTLED), done
            if done.kind in (WORKING, PUBLIC) and done.diagnosis is Diagnosis.THROTTLED:
                needs = 4 if done.kind == PUBLIC else 5
                # A replica that waited on another's flight reads its verdict one poll later.
                recent = sum(
                    count
                    for answered, count in failures
                    if done.ended - WINDOW_S - 0.2 < answered <= done.ended
                )
                assert recent + needs > BUDGET, f"working store throttled with {recent} failures"


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, 1), st.integers(0, len(TOKENS) - 1)),
        st.tuples(st.just("answer"), st.integers(0, 50)),
        st.tuples(st.just("advance"), st.sampled_from([0.01, 0.3, 1.0, 5.0, 19.0, 30.0, 61.0])),
    ),
    min_size=1,
    max_size=40,
)


# Schedules worth playing on every run, whatever Hypothesis draws: one revoked token checked
# on both replicas at once; six checks of it at once; failing tokens spending the budget while
# working stores arrive; a suspended store checked again right after its verdict.
SIX_AT_ONCE = [("arrive", n % 2, 3) for n in range(6)]
SPENT_BY_FAILURES = [
    ("arrive", 0, 3),
    ("arrive", 1, 4),
    ("arrive", 0, 5),
    ("advance", 0.3),
    ("arrive", 1, 0),
    ("arrive", 0, 2),
    ("advance", 30.0),
    ("arrive", 1, 1),
]
AGAIN_AFTER_VERDICT = [("arrive", 0, 6), ("advance", 1.0), ("arrive", 1, 6), ("advance", 61.0)]
EXAMPLES = (
    [("arrive", 0, 3), ("arrive", 1, 3)],
    SIX_AT_ONCE,
    SPENT_BY_FAILURES,
    AGAIN_AFTER_VERDICT,
)


def with_examples(test: Any) -> Any:
    for actions in EXAMPLES:
        test = example(actions=actions)(test)
    return test


async def play(world: World, actions: list[tuple[Any, ...]]) -> None:
    for action in actions:
        match action:
            case ("arrive", replica, token_index):
                world.arrive(replica, token_index)
            case ("answer", index):
                pending = world.pending()
                if pending:
                    world.answer(pending[index % len(pending)])
            case ("advance", seconds):
                await world.advance(seconds)
        await world.settle_down()
    await world.finish()
    world.check_invariants()


@settings(max_examples=100, deadline=None)
@with_examples
@given(actions=ACTIONS)
async def test_the_memory_guard_keeps_its_promises(actions: list[tuple[Any, ...]]) -> None:
    def guards(time: FakeTime) -> list[TokenGuard]:
        shared = MemoryTokenGuard(COOLDOWN_S, BUDGET, clock=time.clock)
        return [shared, shared]  # two checkers on one guard, as two replicas on one database

    await play(World(guards), actions)


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[list[Database]]:
    """Two `Database`s on one migrated database (SQLite, PostgreSQL), as two bot processes
    have."""
    opened = [Database.from_url(database_url) for _ in range(2)]
    await opened[0].migrate()
    yield opened
    for database in opened:
        await database.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@with_examples
@given(actions=ACTIONS)
async def test_the_database_guard_keeps_its_promises(
    databases: list[Database], actions: list[tuple[Any, ...]]
) -> None:
    async with databases[0].engine.begin() as connection:
        for table in ("token_flights", "token_cooldowns", "failing_requests"):
            await connection.execute(sa.text(f"DELETE FROM {table}"))

    def guards(time: FakeTime) -> list[TokenGuard]:
        def clock() -> Any:
            return START + timedelta(seconds=time.now)

        return [
            DatabaseTokenGuard(database, COOLDOWN_S, BUDGET, clock=clock) for database in databases
        ]

    await play(World(guards), actions)
