"""The repository: every check, escalation and piece of shared state, through one `Database`, on
the embedded SQLite file under DATA_DIR or on the PostgreSQL that DATABASE_URL names, which
several bot processes share. It holds the queries of the check history (recording, reading back,
the team's stats) and of retention and erasure; its escalations' part is inherited from
`bot.db.escalation_store`, opening and migrating is `bot.db.opening`, and the rows it writes and
reads are built in `bot.db.check_rows`. Nothing here stores a token or a collection URL in plain
text (see `bot.db.models`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.check_rows import CheckRecord, check_record_of, check_row
from bot.db.escalation_store import EscalationStore
from bot.db.escalations import EscalationState
from bot.db.models import (
    CheckRow,
    EscalationRow,
    FollowUpRow,
    HeldPasteRow,
    StepExecutionRow,
    StoredCredentialsRow,
    TimedWorkRow,
    WatchRow,
    utcnow,
)
from bot.db.opening import create_engine, read_only, upgrade_to_head, url_from_settings
from bot.db.vault import CredentialVault
from bot.destination import Destination
from bot.engine.diagnosis import Diagnosis
from bot.engine.report import CheckReport
from bot.engine.trace import current_check
from bot.response_targets import ResponseTargets, SupportClock
from bot.settings import normalise_url

if TYPE_CHECKING:
    from pydantic import SecretStr

    from bot.settings import Settings

TOP_DIAGNOSES = 5


@dataclass(frozen=True, slots=True)
class Erased:
    """How many rows `forget_store` or `forget_user` deleted."""

    checks: int
    escalations: int
    credentials: int
    follow_ups: int = 0


@dataclass(frozen=True)
class TeamStats:
    """Checks since `since`: how many, how many connected, and the most common failures."""

    checks: int
    connected: int
    top_diagnoses: list[tuple[Diagnosis, int]]
    since: datetime

    @property
    def pass_rate(self) -> float | None:
        """The share of checks that connected, from 0 to 1; None when there was no check."""
        return self.connected / self.checks if self.checks else None


def _new_id() -> str:
    return uuid.uuid4().hex


class Database(EscalationStore):
    """History, escalations and shared state, in SQLite or PostgreSQL; the escalations' part
    is `bot.db.escalation_store`.

    Several `Database` objects, in one process or many, may use the same database at once:
    every change is one transaction, and state changes are compare-and-set.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        support_clock: SupportClock | None = None,
        response_targets: ResponseTargets | None = None,
    ) -> None:
        #: For transactions that write; on SQLite they take the write lock when they begin.
        self.engine = engine
        #: The same pool, for transactions that only read.
        self.reader = read_only(engine)
        #: Now, as a timezone-aware UTC datetime (tests move it).
        self.clock = clock
        #: The support team's hours, which escalations' response times are counted on.
        self.support_clock = support_clock or SupportClock()
        #: How long each urgency may wait for a first response (ESCALATION_RESPONSE_TARGETS).
        self.response_targets = response_targets or ResponseTargets.default()
        #: Told (diagnosis, entry point, duration in ms) of every check recorded: metrics.
        self.on_check_recorded: list[Callable[[str, str, int], None]] = []
        self.on_response: list[Callable[[str, float], None]] = []
        self.on_resolution: list[Callable[[str, float], None]] = []
        #: Told of every database error the engine sees: metrics.
        self.on_error: list[Callable[[], None]] = []
        event.listen(engine.sync_engine, "handle_error", self._handle_error)

    def _handle_error(self, _context: Any) -> None:
        for observer in self.on_error:
            observer()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], datetime] = utcnow
    ) -> Database:
        """The database configured by DATABASE_URL, or the SQLite file under DATA_DIR, its
        escalations on SUPPORT_HOURS and ESCALATION_RESPONSE_TARGETS."""
        return cls(
            create_engine(url_from_settings(settings)),
            clock=clock,
            support_clock=SupportClock(settings.support_hours),
            response_targets=settings.escalation_response_targets,
        )

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], datetime] = utcnow) -> Database:
        """The database at `url` (`postgres://`, `postgresql://` and `sqlite://` are accepted)."""
        return cls(create_engine(normalise_url(url)), clock=clock)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Bring the schema to the latest version (`bot.db.opening.upgrade_to_head`)."""
        await upgrade_to_head(self.engine)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.reader.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    # Retention and erasure.

    async def purge_history(self, older_than: timedelta) -> int:
        """Delete checks, resolved escalations and workflow step executions older than
        `older_than`; returns the checks.

        A check that an escalation still open or taken points at is kept until it is resolved;
        a step execution whose completion is on its way (`checked`), until it is completed.
        """
        cutoff = self.clock() - older_than
        async with self.engine.begin() as connection:
            await connection.execute(
                sa.delete(StepExecutionRow).where(
                    StepExecutionRow.created_at < cutoff,
                    StepExecutionRow.state != "checked",  # StepState.CHECKED: completing
                )
            )
            await connection.execute(
                sa.delete(EscalationRow).where(
                    EscalationRow.created_at < cutoff,
                    EscalationRow.state == EscalationState.RESOLVED.value,
                )
            )
            old = (
                sa.select(CheckRow.id)
                .where(CheckRow.created_at < cutoff)
                .where(~CheckRow.id.in_(sa.select(EscalationRow.check_id)))
            )
            await connection.execute(
                sa.delete(StoredCredentialsRow).where(StoredCredentialsRow.check_id.in_(old))
            )
            result = await connection.execute(sa.delete(CheckRow).where(CheckRow.id.in_(old)))
        return result.rowcount

    async def forget_store(self, store_id: int) -> Erased:
        """Erase every check, escalation, follow-up and stored paste about the store
        `store_id`; its follow-ups end without a word."""
        checks = sa.select(CheckRow.id).where(CheckRow.store_id == store_id)
        return await self._erase(
            checks,
            EscalationRow.store_id == store_id,
            FollowUpRow.store_id == store_id,
            WatchRow.store_id == store_id,
        )

    async def forget_user(self, user_id: str) -> Erased:
        """Erase the checks and escalations `user_id` asked for, with their stored pastes (and
        the secrets the leak guard holds for them), the workflow steps that asked them, and
        their name as the agent who took, answered or resolved anyone else's escalation (or
        answered its feedback question)."""
        checks = sa.select(CheckRow.id).where(CheckRow.requester_id == user_id)
        async with self.engine.begin() as connection:
            await connection.execute(
                sa.delete(StepExecutionRow).where(StepExecutionRow.user_id == user_id)
            )
            # What the leak guard holds for their private check: encrypted, minutes, theirs.
            held = await connection.execute(
                sa.delete(HeldPasteRow).where(HeldPasteRow.owner == user_id)
            )
            for column in ("taken_by", "resolved_by", "responded_by", "feedback_by"):
                await connection.execute(
                    sa.update(EscalationRow)
                    .where(getattr(EscalationRow, column) == user_id)
                    .values({column: None})
                )
        erased = await self._erase(
            checks,
            EscalationRow.requester_id == user_id,
            FollowUpRow.requester_id == user_id,
            WatchRow.requester_id == user_id,
        )
        return replace(erased, credentials=erased.credentials + held.rowcount)

    async def _erase(
        self,
        checks: sa.Select[Any],
        escalations: sa.ColumnElement[bool],
        follow_ups: sa.ColumnElement[bool],
        watches: sa.ColumnElement[bool],
    ) -> Erased:
        async with self.engine.begin() as connection:
            check_ids = set((await connection.execute(checks)).scalars())
            escalated = sa.select(EscalationRow.check_id).where(escalations)
            check_ids.update((await connection.execute(escalated)).scalars())
            ids = sorted(check_ids)
            erased_escalations = await connection.execute(
                sa.delete(EscalationRow).where(escalations | EscalationRow.check_id.in_(ids))
            )
            erased_credentials = await connection.execute(
                sa.delete(StoredCredentialsRow).where(StoredCredentialsRow.check_id.in_(ids))
            )
            erased_checks = await connection.execute(
                sa.delete(CheckRow).where(CheckRow.id.in_(ids))
            )
            # A follow-up's rounds are timed work named after it: gone with it, a round running
            # now finds nothing to say (`TimedWork.holds`).
            followed = sa.select(FollowUpRow.id).where(follow_ups | FollowUpRow.check_id.in_(ids))
            watched = sa.select(WatchRow.id).where(watches | WatchRow.check_id.in_(ids))
            await connection.execute(
                sa.delete(TimedWorkRow).where(
                    TimedWorkRow.subject.in_(followed) | TimedWorkRow.subject.in_(watched)
                )
            )
            await connection.execute(
                sa.delete(WatchRow).where(watches | WatchRow.check_id.in_(ids))
            )
            erased_follow_ups = await connection.execute(
                sa.delete(FollowUpRow).where(follow_ups | FollowUpRow.check_id.in_(ids))
            )
        return Erased(
            follow_ups=erased_follow_ups.rowcount,
            checks=erased_checks.rowcount,
            escalations=erased_escalations.rowcount,
            credentials=erased_credentials.rowcount,
        )

    # Checks.

    async def record_check(
        self, report: CheckReport, destination: Destination, *, check_id: str | None = None
    ) -> str:
        """Record a finished check and return its ID (`check_id`, or a new one); its time is the
        report's `checked_at`.

        Only the masked token is kept; free text is redacted again in case a secret slipped in.
        """
        trace = current_check()
        if check_id is None and trace is not None and not trace.recorded:
            trace.recorded = True
            check_id = trace.id  # the id the check's log lines carry
        check_id = check_id or _new_id()
        async with self.engine.begin() as connection:
            await connection.execute(sa.insert(CheckRow), check_row(check_id, report, destination))
        for observer in self.on_check_recorded:
            observer(report.diagnosis.value, destination.entry.value, report.duration_ms)
        return check_id

    async def check_by_id(self, check_id: str) -> CheckRecord | None:
        """The check with this ID, if there is one."""
        rows = await self._read_checks(sa.select(CheckRow).where(CheckRow.id == check_id))
        return rows[0] if rows else None

    async def checks_for_store(self, store_id: int, limit: int = 20) -> list[CheckRecord]:
        """This store's latest checks, newest first."""
        return await self._read_checks(
            _newest_first(sa.select(CheckRow).where(CheckRow.store_id == store_id), limit)
        )

    async def checks_by_requester(self, requester_id: str, limit: int = 10) -> list[CheckRecord]:
        """The latest checks this person asked for, newest first."""
        return await self._read_checks(
            _newest_first(sa.select(CheckRow).where(CheckRow.requester_id == requester_id), limit)
        )

    async def team_stats(self, since: datetime) -> TeamStats:
        """Checks since `since`; `top_diagnoses`: the most common failures, most frequent first."""
        count = sa.func.count().label("n")
        query = (
            sa.select(CheckRow.diagnosis, count)
            # Every code named: each is one range of the (diagnosis, created_at) index, counted
            # from the index alone, already in order for the grouping.
            .where(CheckRow.diagnosis.in_([code.value for code in Diagnosis]))
            .where(CheckRow.created_at >= since)
            .group_by(CheckRow.diagnosis)
        )
        async with self.reader.connect() as connection:
            by_diagnosis = {
                Diagnosis(diagnosis): n for diagnosis, n in (await connection.execute(query)).all()
            }
        failures: list[tuple[Diagnosis, int]] = sorted(
            ((diagnosis, n) for diagnosis, n in by_diagnosis.items() if diagnosis != Diagnosis.OK),
            key=lambda item: (-item[1], item[0].value),
        )
        return TeamStats(
            checks=sum(by_diagnosis.values()),
            connected=by_diagnosis.get(Diagnosis.OK, 0),
            top_diagnoses=failures[:TOP_DIAGNOSES],
            since=since,
        )

    def vault(self, key: SecretStr | None, ttl: timedelta) -> CredentialVault:
        """Pastes encrypted under `key` (CREDENTIALS_KEY), kept for `ttl`; off without a key."""
        return CredentialVault(self.engine, key, ttl, clock=self.clock)

    async def _read_checks(self, query: sa.Select[CheckRow]) -> list[CheckRecord]:
        async with self.reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [check_record_of(row._mapping) for row in rows]


def _newest_first(query: sa.Select[CheckRow], limit: int) -> sa.Select[CheckRow]:
    return query.order_by(CheckRow.created_at.desc(), CheckRow.id).limit(limit)
