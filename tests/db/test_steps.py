"""The workflow step's executions in the database (SQLite and PostgreSQL): once per execution, the
first check's outputs, and the executions a dead process left for another to complete."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db.database import Database
from bot.db.steps import StepExecutions, StepOutputs, StepState
from bot.engine.diagnosis import Diagnosis
from tests.db.test_database import report
from tests.db_fixtures import (  # noqa: F401
    FakeClock,
    clock_fixture,
    database_fixture,
    database_url_fixture,
)

QUIET = timedelta(seconds=30)
UNANSWERED = timedelta(minutes=15)


async def started(
    database: Database, execution_id: str = "Fx1", user: str = "U1"
) -> StepExecutions:
    executions = StepExecutions(database)
    assert await executions.start(execution_id, team="T1", user_id=user, channel_id="C1")
    return executions


async def test_an_execution_starts_once_however_often_slack_sends_it(database: Database) -> None:
    executions = StepExecutions(database)
    starts = await asyncio.gather(
        *(executions.start("Fx1", team="T1", user_id="U1", channel_id=None) for _ in range(5))
    )
    assert sorted(starts) == [False, False, False, False, True]
    execution = await executions.get("Fx1")
    assert execution is not None
    assert execution.state is StepState.WAITING


async def test_the_first_check_to_end_gives_the_outputs(database: Database) -> None:
    executions = await started(database)
    first = StepOutputs.of(report(Diagnosis.PLAN_FREE, store_id=1003))
    assert await executions.checked("Fx1", "check-1", first)
    assert not await executions.checked("Fx1", "check-2", StepOutputs.of(report()))
    execution = await executions.get("Fx1")
    assert execution is not None
    assert execution.check_id == "check-1"
    assert execution.outputs == StepOutputs(False, "plan_free", "1003")


async def test_the_first_answer_delivered_is_the_one_linked(database: Database) -> None:
    executions = await started(database)
    assert not await executions.delivered("Fx1", "C1", "1.1")  # nothing checked yet
    await executions.checked("Fx1", "check-1", StepOutputs.of(report()))
    assert await executions.delivered("Fx1", "C1", "1.2")
    assert not await executions.delivered("Fx1", "C1", "1.3")
    execution = await executions.get("Fx1")
    assert execution is not None
    assert (execution.answer_channel, execution.answer_ts) == (
        "C1",
        "1.2",
    )


async def test_a_completed_execution_takes_no_other_check(database: Database) -> None:
    executions = await started(database)
    outputs = StepOutputs.of(report()).with_permalink("https://example.slack.com/p1")
    await executions.checked("Fx1", "check-1", outputs)
    await executions.completed("Fx1", outputs)
    assert not await executions.checked("Fx1", "check-2", StepOutputs.of(report()))
    execution = await executions.get("Fx1")
    assert execution is not None
    assert execution.state is StepState.COMPLETED
    assert execution.outputs == outputs


async def test_waiting_executions_are_listed_by_person_oldest_first(
    database: Database, clock: FakeClock
) -> None:
    executions = await started(database, "Fx1", "U1")
    clock.advance(1)
    await executions.start("Fx2", team="T1", user_id="U2", channel_id=None)
    clock.advance(1)
    await executions.start("Fx3", team="T1", user_id="U1", channel_id=None)
    await executions.failed("Fx3", "no channel")
    assert [e.execution_id for e in await executions.waiting("U1")] == ["Fx1"]
    assert [e.execution_id for e in await executions.waiting()] == ["Fx1", "Fx2"]


async def test_a_checked_execution_left_alone_is_claimed_once(
    database: Database, clock: FakeClock
) -> None:
    executions = await started(database)
    await executions.checked("Fx1", "check-1", StepOutputs.of(report()))
    await executions.delivered("Fx1", "C1", "1.2")
    assert await executions.claim_stale(QUIET, UNANSWERED) == []  # its process may be at it
    clock.advance(QUIET.total_seconds() + 1)
    other = StepExecutions(database)
    claims = await asyncio.gather(
        executions.claim_stale(QUIET, UNANSWERED), other.claim_stale(QUIET, UNANSWERED)
    )
    assert sorted(len(claimed) for claimed in claims) == [0, 1]
    assert await executions.claim_stale(QUIET, UNANSWERED) == []  # claimed: quiet again


async def test_an_answer_not_yet_in_slack_is_waited_for_longer(
    database: Database, clock: FakeClock
) -> None:
    executions = await started(database)
    await executions.checked("Fx1", "check-1", StepOutputs.of(report()))
    clock.advance(QUIET.total_seconds() + 1)
    assert await executions.claim_stale(QUIET, UNANSWERED) == []
    clock.advance(UNANSWERED.total_seconds())
    assert [e.execution_id for e in await executions.claim_stale(QUIET, UNANSWERED)] == ["Fx1"]


async def test_forgetting_a_person_erases_their_executions(database: Database) -> None:
    executions = await started(database, "Fx1", "U1")
    await executions.start("Fx2", team="T1", user_id="U2", channel_id=None)
    await database.forget_user("U1")
    assert await executions.get("Fx1") is None
    assert await executions.get("Fx2") is not None


def test_outputs_leave_out_what_is_not_known() -> None:
    assert StepOutputs.of(report(Diagnosis.COLLECTION_NOT_FOUND, store_id=None)).to_json() == {
        "connected": False,
        "diagnosis": "collection_not_found",
    }
    full = StepOutputs(True, "ok", "1003", "https://example.slack.com/p1")
    assert StepOutputs.from_json(full.to_json()) == full


async def test_retention_removes_old_executions_but_not_one_being_completed(
    database: Database, clock: FakeClock
) -> None:
    executions = await started(database, "Fx1")
    await executions.start("Fx2", team="T1", user_id="U1", channel_id=None)
    await executions.checked("Fx2", "check-2", StepOutputs.of(report()))
    await executions.start("Fx3", team="T1", user_id="U1", channel_id=None)
    await executions.failed("Fx3", "no channel")
    clock.advance(timedelta(days=31).total_seconds())
    await executions.start("Fx4", team="T1", user_id="U1", channel_id=None)

    await database.purge_history(timedelta(days=30))

    kept = [e for e in ("Fx1", "Fx2", "Fx3", "Fx4") if await executions.get(e) is not None]
    assert kept == ["Fx2", "Fx4"]
