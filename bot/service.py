"""Check and record: the one service every entry point runs a check through.

The Slack listeners, a support agent's re-run and the command line all call `CheckService`:
the engine decides the diagnosis, then the history keeps the check (and, when the vault is on,
its credentials, encrypted, so support can re-run it). Recording is bookkeeping: a database
failure is logged and never costs the person their answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.destination import Destination, EntryPoint
from bot.engine.check import ConnectionChecker, StepListener
from bot.engine.intake import Paste
from bot.engine.report import CheckReport
from bot.history.database import Database
from bot.history.vault import CredentialVault

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedCheck:
    """A check's report and its ID in the history (None when it could not be recorded)."""

    report: CheckReport
    check_id: str | None


class CheckService:
    """Runs checks with the engine and records them in the history."""

    def __init__(
        self, checker: ConnectionChecker, database: Database, vault: CredentialVault | None = None
    ) -> None:
        self.checker = checker
        self.database = database
        self.vault = vault

    async def check(
        self, paste: Paste, destination: Destination, on_step: StepListener | None = None
    ) -> RecordedCheck:
        """Check `paste`, then record it as asked from `destination`."""
        report = await self.checker.check(paste, on_step)
        return RecordedCheck(report, await self.record(report, destination, paste))

    async def kept_paste(self, check_id: str) -> Paste | None:
        """What was pasted for `check_id`, to re-run it; None when nothing is kept (no
        CREDENTIALS_KEY, or it expired): the customer must paste again."""
        return await self.vault.load(check_id) if self.vault else None

    async def record(
        self, report: CheckReport, destination: Destination, paste: Paste | None = None
    ) -> str | None:
        """Keep the check in the history, and its credentials for a re-run; the new check's ID,
        or None when the database failed (logged)."""
        try:
            check_id = await self.database.record_check(report, destination)
        except Exception:
            logger.exception("could not record the check of store %s", report.store_id)
            return None
        # A re-run uses credentials already kept: storing them again would extend their life.
        if self.vault and paste is not None and destination.entry != EntryPoint.RERUN:
            try:
                await self.vault.store(check_id, paste)
            except Exception:
                logger.exception("could not keep the credentials of check %s", check_id)
        return check_id
