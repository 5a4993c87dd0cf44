"""The guard in whole checks over real HTTP against the sandbox: single flight per token,
a budget that queues rather than misdiagnoses, exact settlements, cool-downs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis, StepName, StepStatus
from bot.engine.guard import MemoryTokenGuard
from bot.engine.http_client import new_http_client
from bot.engine.report import Step
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import sample_stores, working_stores
from tests.conftest import settings_for


def api_requests(sandbox: EcwidSandbox, key: str | None = None) -> int:
    return sum(
        request.path.startswith("/api/") and (key is None or request.matched_store == key)
        for request in sandbox.requests
    )


async def test_six_simultaneous_checks_of_one_revoked_token_send_it_once(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    store = sandbox.store("revoked")

    reports = await asyncio.gather(
        *(checker.check_store(str(store.store_id), store.token) for _ in range(6))
    )

    assert [report.diagnosis for report in reports] == [Diagnosis.TOKEN_INVALID] * 6
    assert api_requests(sandbox) == 5  # the profile and four counts, once


async def test_a_hundred_simultaneous_checks_of_one_working_store_are_all_answered_ok(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    url = sandbox.collection_url("connected")

    reports = await asyncio.gather(*(checker.check_text(url) for _ in range(100)))

    assert Counter(report.diagnosis for report in reports) == {Diagnosis.OK: 100}
    assert api_requests(sandbox) == 5
    # Each caller has its own report, with the counts the one flight read.
    assert all(report.counts.products.total == 1234 for report in reports)


async def test_many_working_stores_at_once_wait_for_the_budget_rather_than_being_throttled() -> (
    None
):
    stores = working_stores(60)
    async with EcwidSandbox((*sample_stores(), *stores)) as sandbox, new_http_client() as http:
        # 60 x 5 requests reserved against a budget of 10: at most two checks in flight at once.
        checker = ConnectionChecker(
            settings_for(sandbox, failing_token_budget_per_min=10, check_timeout_s=60), http
        )
        reports = await asyncio.gather(
            *(checker.check_text(sandbox.base_url + store.collection_path) for store in stores)
        )

        assert Counter(report.diagnosis for report in reports) == {Diagnosis.OK: 60}
        assert api_requests(sandbox) == 300


DEADLINE_S = 20.0


class SteppingTime:
    """A clock that a check's waits move forward (one check at a time)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds == DEADLINE_S:  # the check's deadline watchdog: never reached here
            await asyncio.Event().wait()
        self.now += seconds
        await asyncio.sleep(0)


@asynccontextmanager
async def _checker_with_the_budget_spent(
    sandbox: EcwidSandbox, time: SteppingTime
) -> AsyncIterator[ConnectionChecker]:
    """A checker on `time` (a budget of 10 failing requests a minute, a deadline of DEADLINE_S)
    whose budget two revoked tokens have just spent."""
    guard = MemoryTokenGuard(60, 10, clock=time.clock)
    async with new_http_client() as http:
        checker = ConnectionChecker(
            settings_for(sandbox, check_timeout_s=DEADLINE_S),
            http,
            guard,
            clock=time.clock,
            sleep=time.sleep,
        )
        revoked = sandbox.store("revoked")
        for attempt in range(2):  # two revoked tokens, 5 failing requests each: 10 spent
            report = await checker.check_store(str(revoked.store_id), f"secret_{attempt:032d}")
            assert report.diagnosis is Diagnosis.TOKEN_INVALID
        yield checker


async def test_a_working_store_waits_in_line_while_failures_spend_the_budget(
    sandbox: EcwidSandbox,
) -> None:
    time = SteppingTime()
    steps: list[Step] = []
    async with _checker_with_the_budget_spent(sandbox, time) as checker:
        time.now = 45.0  # the failures leave the window in 15 s: within the deadline
        connected = sandbox.store("connected")

        report = await checker.check_store(str(connected.store_id), connected.token, steps.append)

    assert report.diagnosis is Diagnosis.OK
    assert time.now >= 60.0
    waiting = [step for step in steps if step.status is StepStatus.PENDING]
    assert waiting
    assert waiting[0].name is StepName.PROFILE
    assert "waiting about 15 s" in waiting[0].detail


async def test_throttled_only_when_the_wait_for_failures_would_pass_the_deadline(
    sandbox: EcwidSandbox,
) -> None:
    time = SteppingTime()
    async with _checker_with_the_budget_spent(sandbox, time) as checker:
        time.now = 30.0  # 30 s more before the failures leave: past the 20 s deadline
        connected = sandbox.store("connected")
        sandbox.reset()

        report = await checker.check_store(str(connected.store_id), connected.token)

    assert report.diagnosis is Diagnosis.THROTTLED
    assert report.retry_after_s == 30
    assert api_requests(sandbox) == 0
    assert time.now == 30.0  # answered at once, not after a pointless wait


async def test_a_suspended_store_cools_down_too(
    sandbox: EcwidSandbox, checker: ConnectionChecker
) -> None:
    url = sandbox.collection_url("suspended")
    first = await checker.check_text(url)
    sandbox.reset()

    second = await checker.check_text(url)

    assert first.diagnosis is Diagnosis.STORE_SUSPENDED
    assert second.diagnosis is Diagnosis.THROTTLED
    assert api_requests(sandbox) == 0


async def test_a_replica_waiting_on_anothers_flight_gets_its_verdict_with_its_own_steps() -> None:
    guard = MemoryTokenGuard(60, 300)  # one guard for two checkers: two replicas, one database
    revoked = next(store for store in sample_stores() if store.key == "revoked")
    # Ecwid answers slowly enough that the check reading the collection first joins the
    # flight of the one that had the token at once, whatever the machine's speed.
    store = dataclasses.replace(revoked, delay_s=1.0)
    async with EcwidSandbox([store]) as sandbox, new_http_client() as http:
        here, there = (ConnectionChecker(settings_for(sandbox), http, guard) for _ in range(2))
        by_url, by_token = await asyncio.gather(
            here.check_text(sandbox.collection_url("revoked")),
            there.check_store(str(store.store_id), store.token),
        )
        sent = api_requests(sandbox, "revoked")

    assert by_url.diagnosis is by_token.diagnosis is Diagnosis.TOKEN_INVALID
    assert sent == 5
    assert by_url.step(StepName.DOWNLOAD).status is StepStatus.PASSED  # type: ignore[union-attr]
    assert by_token.step(StepName.DOWNLOAD).status is StepStatus.SKIPPED  # type: ignore[union-attr]
    assert by_url.step(StepName.PROFILE) == by_token.step(StepName.PROFILE)


async def test_a_settlement_gives_back_exactly_what_its_reservation_did_not_fail() -> None:
    now = [0.0]
    guard = MemoryTokenGuard(60, 10, clock=lambda: now[0])
    failed = await guard.reserve(5, 30)
    working = await guard.reserve(5, 30)
    assert failed.reservation is not None
    assert working.reservation is not None

    await guard.settle(failed.reservation, 5)
    now[0] = 10.0
    await guard.settle(working.reservation, 0)
    await guard.settle(working.reservation, 0)  # twice changes nothing

    assert (await guard.reserve(5, 30)).granted  # 5 failed + 5 reserved: the budget
    refused = await guard.reserve(1, 30)
    assert not refused.granted
    assert refused.failures_wait_s == 0  # only the reservation in flight holds it
    now[0] = 60.0
    assert (await guard.reserve(1, 30)).granted  # the 5 failures left the window


async def test_a_reservation_never_settled_counts_as_failed_from_the_end_of_its_lease() -> None:
    now = [0.0]
    guard = MemoryTokenGuard(60, 10, clock=lambda: now[0])
    assert (await guard.reserve(10, 20)).granted

    now[0] = 21.0
    refused = await guard.reserve(1, 20)
    assert not refused.granted
    assert refused.failures_wait_s == 59.0
    now[0] = 80.0
    assert (await guard.reserve(10, 20)).granted
