"""Recording finished checks in the history: the one writer every entry point records through.

The Slack answer path and the command line both call `CheckRecorder`: the history keeps the check
(and, when the vault is on, its credentials, encrypted, so support can re-run it). Recording is
bookkeeping: in Slack it happens after the answer is out (`new_check_id` gives the check its ID at
once, `keep` writes it), and a database failure never costs the person their answer. While the
database is unreachable, checks wait in a bounded in-memory backlog (`HistoryBacklog`) and are
written, with the same IDs, once it is back (`flush`); what does not fit is counted and logged.

What the bookkeeping has not done yet never stands in anyone's way: a check answered but not yet
written (`expect`) is found by its ID (`unwritten`) and shown in the history and the App Home
(`checks_for_store`, `checks_by_requester`), and an escalation of it is opened at once
(`open_escalation`) – written first to the history if need be, or, while the database is away,
kept with its ID and written once it is back.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from bot.db.check_rows import CheckRecord, check_record
from bot.db.database import Database
from bot.db.escalations import Escalation, EscalationState
from bot.db.health import DatabaseHealth
from bot.db.vault import CredentialVault
from bot.destination import Destination, EntryPoint
from bot.engine.intake import Paste
from bot.engine.redaction import redact
from bot.engine.report import CheckReport
from bot.engine.trace import current_check
from bot.response_targets import Urgency

logger = logging.getLogger(__name__)


HISTORY_BACKLOG_MAX = 1000


@dataclass(frozen=True, slots=True)
class UnwrittenCheck:
    """A check not yet in the history, with the ID it will be written under."""

    check_id: str
    report: CheckReport
    destination: Destination
    paste: Paste | None
    #: The journal entry to close once the history has the check.
    journal_id: str | None = None

    def record(self) -> CheckRecord:
        """The check as the history will hold it."""
        return check_record(self.check_id, self.report, self.destination)


class HistoryBacklog:
    """Checks not yet written, oldest first, at most `limit`; the oldest make way (counted)."""

    def __init__(self, health: DatabaseHealth, limit: int = HISTORY_BACKLOG_MAX) -> None:
        self._health = health
        self._rows: deque[UnwrittenCheck] = deque()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, check_id: str) -> bool:
        return any(row.check_id == check_id for row in self._rows)

    def add(self, row: UnwrittenCheck) -> UnwrittenCheck | None:
        """Keep `row`; the oldest row it pushed out, if the backlog was full."""
        dropped = None
        if len(self._rows) >= self._limit:
            dropped = self._rows.popleft()
            self._health.dropped_rows += 1
            logger.error(
                "history backlog full (%d checks): the check of store %s will not be recorded "
                "(%d dropped in all)",
                self._limit,
                dropped.report.store_id,
                self._health.dropped_rows,
            )
        self._rows.append(row)
        self._health.waiting_rows = len(self._rows)
        return dropped

    def first(self) -> UnwrittenCheck | None:
        return self._rows[0] if self._rows else None

    def written(self) -> None:
        self._rows.popleft()
        self._health.waiting_rows = len(self._rows)


def new_check_id() -> str:
    """The running check's ID (its log lines carry it) for its history row, else a new one."""
    trace = current_check()
    if trace is not None and not trace.recorded:
        trace.recorded = True
        return trace.id
    return uuid.uuid4().hex


class CheckRecorder:
    """Writes checks to the history, keeping them in a backlog while the database is away."""

    def __init__(
        self,
        database: Database,
        vault: CredentialVault | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        self.database = database
        self.vault = vault
        self.health = health or DatabaseHealth()
        self.backlog = HistoryBacklog(self.health)
        # Checks whose answer is (about to be) out and whose history row is not written yet.
        self._unwritten: dict[str, UnwrittenCheck] = {}
        # Escalations opened while the database was away, oldest first, by ID.
        self._escalations: dict[str, Escalation] = {}

    def expect(self, row: UnwrittenCheck) -> None:
        """`row`'s answer is about to be posted: from now on it is found by its ID, before it
        is written."""
        self._unwritten[row.check_id] = row

    @property
    def waiting(self) -> int:
        """Checks and escalations waiting for the database."""
        return len(self.backlog) + len(self._escalations)

    async def find(self, check_id: str) -> UnwrittenCheck | None:
        """The check `check_id` from this process's unwritten ones or the history; None when
        neither has it (or the database cannot say)."""
        if (row := self._unwritten.get(check_id)) is not None:
            return row
        try:
            record = await self.database.check_by_id(check_id)
        except Exception:
            return None
        if record is None:
            return None
        return UnwrittenCheck(record.id, record.report, record.destination, None)

    def unwritten(self, check_id: str) -> UnwrittenCheck | None:
        """The check `check_id`, if this process answered it and has not written it yet."""
        return self._unwritten.get(check_id)

    async def checks_for_store(self, store_id: int, limit: int = 20) -> list[CheckRecord]:
        """This store's latest checks, newest first: the history's and those not yet in it."""
        written = await self.database.checks_for_store(store_id, limit)
        return self._with_unwritten(written, limit, lambda row: row.report.store_id == store_id)

    async def checks_by_requester(self, requester_id: str, limit: int = 10) -> list[CheckRecord]:
        """The latest checks this person asked for, newest first, written or not yet."""
        written = await self.database.checks_by_requester(requester_id, limit)
        return self._with_unwritten(
            written, limit, lambda row: row.destination.requester == requester_id
        )

    def _with_unwritten(
        self, written: list[CheckRecord], limit: int, wanted: Any
    ) -> list[CheckRecord]:
        ids = {record.id for record in written}
        waiting = [
            row.record()
            for row in self._unwritten.values()
            if row.check_id not in ids and wanted(row)
        ]
        merged = sorted(written + waiting, key=lambda record: record.created_at, reverse=True)
        return merged[:limit]

    async def kept_paste(self, check_id: str) -> Paste | None:
        """What was pasted for `check_id`, to re-run it; None when nothing is kept (no
        CREDENTIALS_KEY, or it expired): the customer must paste again."""
        return await self.vault.load(check_id) if self.vault else None

    async def record(
        self, report: CheckReport, destination: Destination, paste: Paste | None = None
    ) -> str:
        """Keep the check in the history, and its credentials for a re-run; the check's ID."""
        row = UnwrittenCheck(new_check_id(), report, destination, paste)
        await self.keep(row)
        return row.check_id

    async def keep(self, row: UnwrittenCheck) -> bool:
        """Write a check to the history under its ID; whether it is there now. When the database
        fails, the check waits in the backlog (the ID is kept for it)."""
        if row.check_id in self.backlog:
            return False  # already waiting (an escalation asked for it again)
        if len(self.backlog) and not self.health.available:
            self._wait_for_database(row)  # still unreachable: no need to wait for another failure
            return False
        if not await self._write(row):
            self._wait_for_database(row)
            return False
        return True

    def _wait_for_database(self, row: UnwrittenCheck) -> None:
        self._unwritten.setdefault(row.check_id, row)
        dropped = self.backlog.add(row)
        if dropped is not None:  # never written now: nothing is to find it any more
            self._unwritten.pop(dropped.check_id, None)

    async def flush(self) -> list[UnwrittenCheck]:
        """Write the backlog, oldest first, then the escalations opened meanwhile, until all are
        written or the database fails again; the checks written."""
        written: list[UnwrittenCheck] = []
        while (row := self.backlog.first()) is not None:
            if not await self._write(row):
                return written
            self.backlog.written()
            written.append(row)
        if written:
            logger.info("wrote %d checks kept while the database was unreachable", len(written))
        for escalation in list(self._escalations.values()):
            try:
                await self.database.create_escalation(
                    escalation.check_id,
                    escalation.destination,
                    goal=escalation.goal,
                    urgency=escalation.urgency,
                    note=escalation.note,
                    escalation_id=escalation.id,
                    created_at=escalation.created_at,
                    triage=_triage_of(escalation),
                )
            except Exception as error:
                self.health.failed("writing an escalation", error)
                break
            del self._escalations[escalation.id]
            logger.info("wrote escalation %s, opened while the database was away", escalation.id)
        return written

    # Escalations, which never wait on the check's bookkeeping.

    async def open_escalation(
        self,
        check: UnwrittenCheck,
        asker: Destination,
        *,
        goal: str,
        urgency: Urgency,
        note: str,
    ) -> Escalation:
        """Open an escalation of `check`, writing the check to the history first if it is not
        there yet. While the database is away, the escalation is kept in memory under its ID
        and written once it is back (`flush`); in the meantime it can be shown."""
        escalation_id = uuid.uuid4().hex
        if await self._in_history(check):
            ticket = self.health.attempt()
            try:
                escalation = await self.database.create_escalation(
                    check.check_id,
                    asker,
                    goal=goal,
                    urgency=urgency,
                    note=note,
                    escalation_id=escalation_id,
                )
            except Exception as error:
                self.health.failed("opening an escalation", error, ticket)
            else:
                self.health.succeeded(ticket)
                return escalation
        escalation = Escalation(
            id=escalation_id,
            check_id=check.check_id,
            created_at=self.database.clock(),
            destination=asker,
            store_id=check.report.store_id,
            diagnosis=check.report.diagnosis,
            goal=redact(goal),
            urgency=urgency,
            note=redact(note),
            state=EscalationState.OPEN,
            taken_by=None,
            taken_at=None,
            resolved_by=None,
            resolved_at=None,
            triage_channel=None,
            triage_ts=None,
            version=1,
        )
        self._escalations[escalation_id] = escalation
        logger.warning(
            "escalation %s of check %s waits for the database to be written",
            escalation_id,
            check.check_id,
        )
        return escalation

    async def set_triage_message(self, escalation_id: str, channel: str, ts: str) -> None:
        """Remember the message that shows this escalation to the support team."""
        waiting = self._escalations.get(escalation_id)
        if waiting is not None:
            self._escalations[escalation_id] = replace(
                waiting, triage_channel=channel, triage_ts=ts
            )
            return
        await self.database.set_triage_message(escalation_id, channel, ts)

    async def discard_escalation(self, escalation_id: str) -> None:
        """Forget an escalation the support team was never shown (its post failed)."""
        if self._escalations.pop(escalation_id, None) is None:
            await self.database.discard_escalation(escalation_id)

    async def _in_history(self, check: UnwrittenCheck) -> bool:
        """Whether the history has `check` now, writing it if this process has not yet."""
        if check.check_id not in self._unwritten and await self._already_recorded(check.check_id):
            return True
        return await self.keep(self._unwritten.get(check.check_id, check))

    async def _write(self, row: UnwrittenCheck) -> bool:
        ticket = self.health.attempt()
        try:
            await self.database.record_check(row.report, row.destination, check_id=row.check_id)
        except Exception as error:
            if await self._already_recorded(row.check_id):
                # Written before: its answer was lost on the way, or another writer (an
                # escalation, a process finishing this one's journal) was first.
                self._unwritten.pop(row.check_id, None)
                return True
            self.health.failed("recording a check", error, ticket)
            return False
        self.health.succeeded(ticket)
        self._unwritten.pop(row.check_id, None)
        # A re-run uses credentials already kept: storing them again would extend their life.
        if self.vault and row.paste is not None and row.destination.entry != EntryPoint.RERUN:
            try:
                await self.vault.store(row.check_id, row.paste)
            except Exception:
                logger.exception("could not keep the credentials of check %s", row.check_id)
        return True

    async def _already_recorded(self, check_id: str) -> bool:
        try:
            return await self.database.check_by_id(check_id) is not None
        except Exception:
            return False


def _triage_of(escalation: Escalation) -> tuple[str, str] | None:
    if escalation.triage_channel and escalation.triage_ts:
        return escalation.triage_channel, escalation.triage_ts
    return None
