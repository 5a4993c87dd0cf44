"""The executions of the Workflow Builder step "Check Ecwid connection", one row each.

Slack starts an execution with `function_executed`; the row (`step_executions`) is what makes the
step outlast the process that got the event: a retried event finds its row and starts nothing
again (`start`), the first check that ends writes its outputs (`checked`, compare-and-set from
`waiting`, so a second check from the same guide cannot overwrite them), the answer's place in
Slack is noted once it is posted (`delivered`), and the execution is `completed` once Slack has
taken the outputs. Whichever process finds a row left `checked` (its process died between the
answer and the completion) completes it (`stale`). No column holds a secret: Slack's token for
the execution is never written, and the outputs are the diagnosis, the store ID and a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from bot.db.database import Database
from bot.db.models import StepExecutionRow, upsert
from bot.engine.report import CheckReport


class StepState(StrEnum):
    WAITING = "waiting"  # the guide is with the person; nothing checked yet
    CHECKED = "checked"  # a check ended: its outputs are kept, the completion is on its way
    COMPLETED = "completed"  # Slack has the outputs (functions.completeSuccess)
    FAILED = "failed"  # completed with an error (functions.completeError)


@dataclass(frozen=True, slots=True)
class StepOutputs:
    """What the step hands the workflow: its declared output parameters."""

    connected: bool
    diagnosis: str
    store_id: str | None = None
    check_permalink: str | None = None

    @classmethod
    def of(cls, report: CheckReport) -> StepOutputs:
        store_id = str(report.store_id) if report.store_id is not None else None
        return cls(connected=report.ok, diagnosis=str(report.diagnosis), store_id=store_id)

    def with_permalink(self, permalink: str | None) -> StepOutputs:
        return StepOutputs(self.connected, self.diagnosis, self.store_id, permalink)

    def to_json(self) -> dict[str, Any]:
        """As `functions.completeSuccess` takes them: an output not known is left out."""
        values: dict[str, Any] = {"connected": self.connected, "diagnosis": self.diagnosis}
        if self.store_id:
            values["store_id"] = self.store_id
        if self.check_permalink:
            values["check_permalink"] = self.check_permalink
        return values

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepOutputs:
        return cls(
            connected=bool(data["connected"]),
            diagnosis=str(data["diagnosis"]),
            store_id=str(data["store_id"]) if data.get("store_id") else None,
            check_permalink=str(data["check_permalink"]) if data.get("check_permalink") else None,
        )


@dataclass(frozen=True, slots=True)
class StepExecution:
    """One execution as the database holds it."""

    execution_id: str
    workflow_execution_id: str | None
    team: str
    user_id: str
    channel_id: str | None
    state: StepState
    guide_channel: str | None
    guide_ts: str | None
    check_id: str | None
    outputs: StepOutputs | None
    answer_channel: str | None
    answer_ts: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class StepExecutions:
    """The repository of step executions, on the bot's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _now(self) -> datetime:
        return self._database.clock()

    async def start(
        self,
        execution_id: str,
        *,
        team: str,
        user_id: str,
        channel_id: str | None,
        workflow_execution_id: str | None = None,
    ) -> bool:
        """Note a new execution; False when it is known already (Slack retried the event)."""
        now = self._now()
        values = {
            "execution_id": execution_id,
            "workflow_execution_id": workflow_execution_id,
            "team_id": team,
            "user_id": user_id,
            "channel_id": channel_id,
            "state": StepState.WAITING.value,
            "created_at": now,
            "updated_at": now,
        }
        async with self._database.engine.begin() as connection:
            statement = upsert(connection.dialect.name, StepExecutionRow).values(values)
            result = await connection.execute(
                statement.on_conflict_do_nothing(index_elements=[StepExecutionRow.execution_id])
            )
        return bool(result.rowcount == 1)

    async def guide_posted(self, execution_id: str, channel: str, ts: str | None) -> None:
        """The guide is in `channel` (message `ts`): where the person's check answers."""
        await self._update(execution_id, None, guide_channel=channel, guide_ts=ts)

    async def checked(self, execution_id: str, check_id: str, outputs: StepOutputs) -> bool:
        """The first check of this execution ended; False when another one came first (or the
        execution is over): its outputs stand."""
        return await self._update(
            execution_id,
            (StepState.WAITING,),
            state=StepState.CHECKED.value,
            check_id=check_id,
            outputs=outputs.to_json(),
        )

    async def delivered(self, execution_id: str, channel: str, ts: str) -> bool:
        """The checked execution's answer is in `channel` at `ts` (the first one there counts)."""
        return await self._update(
            execution_id,
            (StepState.CHECKED,),
            StepExecutionRow.answer_ts.is_(None),
            answer_channel=channel,
            answer_ts=ts,
        )

    async def completed(self, execution_id: str, outputs: StepOutputs) -> None:
        await self._update(
            execution_id,
            (StepState.WAITING, StepState.CHECKED),
            state=StepState.COMPLETED.value,
            outputs=outputs.to_json(),
            completed_at=self._now(),
        )

    async def failed(self, execution_id: str, error: str) -> None:
        await self._update(
            execution_id,
            (StepState.WAITING, StepState.CHECKED),
            state=StepState.FAILED.value,
            error=error,
            completed_at=self._now(),
        )

    async def get(self, execution_id: str) -> StepExecution | None:
        async with self._database.reader.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(StepExecutionRow).where(StepExecutionRow.execution_id == execution_id)
                )
            ).one_or_none()
        return _execution(row._mapping) if row is not None else None

    async def waiting(self, user_id: str | None = None, limit: int = 50) -> list[StepExecution]:
        """Executions waiting on a person (on `user_id` alone when given), oldest first."""
        query = sa.select(StepExecutionRow).where(StepExecutionRow.state == StepState.WAITING.value)
        if user_id is not None:
            query = query.where(StepExecutionRow.user_id == user_id)
        return await self._read(query.order_by(StepExecutionRow.created_at).limit(limit))

    async def claim_stale(
        self, quiet_for: timedelta, unanswered_for: timedelta, limit: int = 20
    ) -> list[StepExecution]:
        """Checked executions left by their process before completing them: untouched for
        `quiet_for` once their answer is in Slack, for `unanswered_for` while it is not. Each is
        touched as it is claimed, so of several processes one takes it, and it is claimed again
        only after as long (when completing it failed)."""
        now = self._now()
        stale = sa.and_(
            StepExecutionRow.state == StepState.CHECKED.value,
            sa.or_(
                sa.and_(
                    StepExecutionRow.answer_ts.is_not(None),
                    StepExecutionRow.updated_at < now - quiet_for,
                ),
                StepExecutionRow.updated_at < now - unanswered_for,
            ),
        )
        candidates = await self._read(
            sa.select(StepExecutionRow)
            .where(stale)
            .order_by(StepExecutionRow.updated_at)
            .limit(limit)
        )
        claimed = []
        for execution in candidates:
            # Compare-and-set on the time it was last touched: of racing processes, one wins.
            if await self._update(
                execution.execution_id,
                (StepState.CHECKED,),
                StepExecutionRow.updated_at == execution.updated_at,
            ):
                claimed.append(execution)
        return claimed

    async def _update(
        self,
        execution_id: str,
        states: Sequence[StepState] | None,
        *conditions: sa.ColumnElement[bool],
        **values: Any,
    ) -> bool:
        where = [StepExecutionRow.execution_id == execution_id, *conditions]
        if states is not None:
            where.append(StepExecutionRow.state.in_([state.value for state in states]))
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                sa.update(StepExecutionRow).where(*where).values(updated_at=self._now(), **values)
            )
        return bool(result.rowcount == 1)

    async def _read(self, query: sa.Select[Any]) -> list[StepExecution]:
        async with self._database.reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_execution(row._mapping) for row in rows]


def _execution(row: sa.RowMapping) -> StepExecution:
    outputs = row["outputs"]
    return StepExecution(
        execution_id=row["execution_id"],
        workflow_execution_id=row["workflow_execution_id"],
        team=row["team_id"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        state=StepState(row["state"]),
        guide_channel=row["guide_channel"],
        guide_ts=row["guide_ts"],
        check_id=row["check_id"],
        outputs=StepOutputs.from_json(outputs) if outputs else None,
        answer_channel=row["answer_channel"],
        answer_ts=row["answer_ts"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
