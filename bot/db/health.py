"""Whether the database answers: one `DatabaseHealth` per process, `BotServices.database_health`.

Everything that falls back to process memory while the database is unreachable (the check journal,
de-duplication, the history backlog) reports here. The state changes on the first failure and on
the first success after it, each time with one log line (`database unreachable …`, `database
reachable again …`), and is read by the health endpoint: `snapshot()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.db.models import utcnow

logger = logging.getLogger(__name__)


class DatabaseHealth:
    """The database's state as the latest attempts found it.

    `available` is False from a failed operation until the next one that succeeds; `since` is when
    it last changed; `outages` counts how many began. `waiting_rows` and `dropped_rows` are the
    history backlog's: rows kept in memory to be written once the database is back, and rows that
    did not fit (see `bot.db.recorder.HistoryBacklog`); `journal_unwritten`, the check
    journal's entries kept only in memory (see `bot.db.journal`).
    """

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self.available = True
        self.since = clock()
        self.outages = 0
        self.last_error: str | None = None
        self.waiting_rows = 0
        self.dropped_rows = 0
        self.journal_unwritten = 0
        # Counts every change of state (an outage's start and its end): an operation's ticket.
        self._changes = 0

    def failed(self, what: str, error: BaseException, ticket: int | None = None) -> None:
        """An operation on the database failed: the outage starts now, unless it already has –
        or the operation (`ticket` from `attempt`) began before the last change of state. One
        begun during an outage that has since ended (on a connection the server dropped) says
        nothing about the database now; the next one will."""
        self.last_error = type(error).__name__
        if not self.available or (ticket is not None and ticket < self._changes):
            return
        self._changes += 1
        self.available = False
        self.since = self._clock()
        self.outages += 1
        # The error's type only: a driver's message may quote the connection URL.
        logger.error(
            "database unreachable (%s while %s): checks go on, their history and journal are "
            "kept in memory until it is back",
            self.last_error,
            what,
        )

    def attempt(self) -> int:
        """Called as an operation begins: its ticket for `succeeded` and `failed`."""
        return self._changes

    def succeeded(self, ticket: int | None = None) -> None:
        """An operation on the database worked: any outage is over – unless the operation
        (`ticket` from `attempt`) began before this outage did. One that was already on its way
        when the server went down (a query on an open connection, while new ones are refused)
        says nothing about the database now."""
        if self.available or (ticket is not None and ticket < self._changes):
            return
        self._changes += 1
        lasted = (self._clock() - self.since).total_seconds()
        self.available = True
        self.since = self._clock()
        logger.warning(
            "database reachable again after %.1f s; %d history rows waiting to be written",
            lasted,
            self.waiting_rows,
        )

    def snapshot(self) -> dict[str, Any]:
        """For the health endpoint: JSON-ready."""
        return {
            "available": self.available,
            "since": self.since.isoformat(),
            "outages": self.outages,
            "last_error": self.last_error,
            "history_rows_waiting": self.waiting_rows,
            "history_rows_dropped": self.dropped_rows,
            "journal_entries_unwritten": self.journal_unwritten,
        }
