"""Recording finished checks in the history: the one writer every entry point records through.

The Slack answer path and the command line both call `CheckRecorder`: the history keeps the check
(and, when the vault is on, its credentials, encrypted, so support can re-run it). Recording is
bookkeeping: in Slack it happens after the answer is out (`new_check_id` gives the check its ID at
once, `keep` writes it), and a database failure never costs the person their answer. While the
database is unreachable, checks wait in a bounded in-memory backlog (`HistoryBacklog`) and are
written, with the same IDs, once it is back (`flush`); what does not fit is counted and logged.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from dataclasses import dataclass

from bot.db.database import Database
from bot.db.health import DatabaseHealth
from bot.db.vault import CredentialVault
from bot.destination import Destination, EntryPoint
from bot.engine.intake import Paste
from bot.engine.report import CheckReport
from bot.engine.trace import current_check

logger = logging.getLogger(__name__)


HISTORY_BACKLOG_MAX = 1000


@dataclass(frozen=True, slots=True)
class UnwrittenCheck:
    """A check not yet in the history, with the ID it will be written under."""

    check_id: str
    report: CheckReport
    destination: Destination
    paste: Paste | None


class HistoryBacklog:
    """Checks not yet written, oldest first, at most `limit`; the oldest make way (counted)."""

    def __init__(self, health: DatabaseHealth, limit: int = HISTORY_BACKLOG_MAX) -> None:
        self._health = health
        self._rows: deque[UnwrittenCheck] = deque()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: UnwrittenCheck) -> None:
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
        if len(self.backlog) and not self.health.available:
            self.backlog.add(row)  # still unreachable: no need to wait for another failure
            return False
        if not await self._write(row):
            self.backlog.add(row)
            return False
        return True

    async def flush(self) -> int:
        """Write the backlog, oldest first, until it is empty or the database fails again;
        how many were written."""
        written = 0
        while (row := self.backlog.first()) is not None:
            if not await self._write(row):
                break
            self.backlog.written()
            written += 1
        if written:
            logger.info("wrote %d checks kept while the database was unreachable", written)
        return written

    async def _write(self, row: UnwrittenCheck) -> bool:
        ticket = self.health.attempt()
        try:
            await self.database.record_check(row.report, row.destination, check_id=row.check_id)
        except Exception as error:
            if await self._already_recorded(row.check_id):
                return True  # the write went through; its answer was lost on the way
            self.health.failed("recording a check", error, ticket)
            return False
        self.health.succeeded(ticket)
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
