"""Erasure on request (`ecwid-connect forget`): every table and file that names a store or a person.

Every table of the schema has its decision in `ERASURE`, and a test holds every new table to one:

- the history and what hangs on it (`Database.forget_store`, `forget_user`): checks,
  escalations, stored pastes, follow-ups, held pastes and the person's workflow steps, and the
  person's name where they took or resolved someone else's escalation;
- the journal (`pending_checks`), and what processes kept of it on disk during a database outage
  (the spill files in DATA_DIR): entries asked for by the person, or about the store – by their
  report, their check, their sealed paste (readable under CREDENTIALS_KEY) or, for entries
  written before the journal kept reports, the store ID in their answer;
- what else names them: a workflow step whose check or outputs are about the store, timed work
  whose payload or subject names the store, the person or an erased check, escalation or
  follow-up;
- the replicas' shared state: a finished flight's verdict (`token_flights`) is a report and
  names the store; the rest name no one (see `ERASURE`).

A check still running when `forget` runs is written after it, and what a bot process holds only
in memory while its database is unreachable reaches the database once it is back: run `forget`
again after either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.database import Database
from bot.db.database import Erased as HistoryErased
from bot.db.models import (
    CheckRow,
    EscalationRow,
    FollowUpRow,
    PendingCheckRow,
    StepExecutionRow,
    TimedWorkRow,
    TokenFlightRow,
    WatchRow,
)
from bot.db.spill import erase_spilled
from bot.db.vault import CredentialVault
from bot.engine.intake import CredentialsPaste

ERASED, NAMES_NO_ONE = "erased", "names no one"

_HISTORY = "by `Database.forget_store` / `forget_user`: "
ERASURE: dict[str, tuple[str, str]] = {
    "checks": (ERASED, _HISTORY + "the store's checks and those the person asked for"),
    "escalations": (
        ERASED,
        _HISTORY + "those about the store, asked for by the person or of an erased check; the "
        "person's name where they took or resolved another's",
    ),
    "stored_credentials": (ERASED, _HISTORY + "the pastes of erased checks"),
    "follow_ups": (ERASED, _HISTORY + "the store's, the person's and those of erased checks"),
    "watches": (ERASED, _HISTORY + "the store's, the person's and those of erased checks"),
    "held_pastes": (
        ERASED,
        _HISTORY + "the person's; a store's ID is in one only encrypted, for the minutes until "
        "it expires on its own",
    ),
    "pending_checks": (
        ERASED,
        "journal entries the person asked for or about the store (by report, check, sealed "
        "paste or answer); the same in the spill files of DATA_DIR",
    ),
    "step_executions": (
        ERASED,
        _HISTORY + "the person's; and those whose check or outputs are about the store",
    ),
    "timed_work": (
        ERASED,
        "items whose payload or subject names the store, the person, or an erased check, "
        "escalation or follow-up",
    ),
    "token_flights": (ERASED, "finished flights whose verdict (a report) is about the store"),
    "seen_keys": (NAMES_NO_ONE, "SHA-256 of Slack's event keys, expired within minutes"),
    "token_cooldowns": (NAMES_NO_ONE, "one-way token fingerprints with an expiry"),
    "failing_requests": (NAMES_NO_ONE, "counts of failing requests and their times"),
}
"""Every table: whether `forget` erases from it and what, or why it names no one."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom to forget: a store (by ID) or a person (by Slack user ID)."""

    store_id: int | None = None
    user_id: str | None = None

    def __str__(self) -> str:
        return f"store {self.store_id}" if self.store_id is not None else f"user {self.user_id}"


@dataclass(frozen=True, slots=True)
class Erased:
    """What `forget` deleted: the history's part, and the rest table by table."""

    history: HistoryErased
    journal_entries: int = 0
    spilled_entries: int = 0
    steps: int = 0
    timed_work: int = 0
    flights: int = 0

    def __str__(self) -> str:
        history = self.history
        return (
            f"{history.checks} checks, {history.escalations} escalations, "
            f"{history.credentials} stored credentials, {history.follow_ups} follow-ups, "
            f"{self.journal_entries} journal entries ({self.spilled_entries} more on disk), "
            f"{self.steps} workflow steps, {self.timed_work} timed work items, "
            f"{self.flights} verdicts of checks in flight"
        )


async def forget(
    database: Database,
    subject: Subject,
    *,
    vault: CredentialVault | None = None,
    data_dir: Path | None = None,
) -> Erased:
    """Erase `subject` from every table and, with `data_dir`, from the journal's spill files.
    `vault` (under CREDENTIALS_KEY) reads sealed pastes, to find the store's pending checks."""
    async with database.engine.begin() as connection:
        names = _Names(subject, await _history_ids(connection, subject), vault)
        journal = await _erase_where(connection, PendingCheckRow, "id", names.entry)
        steps = await _erase_where(connection, StepExecutionRow, "execution_id", names.step)
        timed = await _erase_where(connection, TimedWorkRow, "id", names.timed_item)
        flights = await _erase_where(connection, TokenFlightRow, "fingerprint", names.flight)
    spilled = erase_spilled(data_dir, names.entry) if data_dir is not None else 0
    if subject.store_id is not None:
        history = await database.forget_store(subject.store_id)
    else:
        history = await database.forget_user(str(subject.user_id))
    return Erased(history, journal, spilled, steps, timed, flights)


async def _history_ids(connection: AsyncConnection, subject: Subject) -> frozenset[str]:
    """The checks, escalations, follow-ups and watches the history part erases: what else names them
    goes with them."""
    if subject.store_id is not None:
        checks = CheckRow.store_id == subject.store_id
        escalations = EscalationRow.store_id == subject.store_id
        follow_ups = FollowUpRow.store_id == subject.store_id
    else:
        checks = CheckRow.requester_id == subject.user_id
        escalations = EscalationRow.requester_id == subject.user_id
        follow_ups = FollowUpRow.requester_id == subject.user_id
    ids = set((await connection.execute(sa.select(CheckRow.id).where(checks))).scalars())
    watches = (
        WatchRow.store_id == subject.store_id
        if subject.store_id is not None
        else (WatchRow.requester_id == subject.user_id)
    )
    escalated = sa.select(EscalationRow.check_id).where(escalations)
    ids.update((await connection.execute(escalated)).scalars())
    found = [
        sa.select(EscalationRow.id).where(escalations | EscalationRow.check_id.in_(ids)),
        sa.select(FollowUpRow.id).where(follow_ups | FollowUpRow.check_id.in_(ids)),
        sa.select(WatchRow.id).where(watches | WatchRow.check_id.in_(ids)),
    ]
    for query in found:
        ids.update((await connection.execute(query)).scalars())
    return frozenset(ids)


async def _erase_where(
    connection: AsyncConnection, table: type[Any], key: str, names: Callable[[dict[str, Any]], bool]
) -> int:
    """Delete the rows of `table` that `names` picks (read whole: these tables stay small)."""
    rows = (await connection.execute(sa.select(table.__table__))).all()
    doomed = [row._mapping[key] for row in rows if names(dict(row._mapping))]
    if doomed:
        column = getattr(table, key)
        await connection.execute(sa.delete(table).where(column.in_(doomed)))
    return len(doomed)


class _Names:
    """Whether a row (of the journal, a step, timed work, a flight) names the subject."""

    def __init__(
        self, subject: Subject, erased_ids: frozenset[str], vault: CredentialVault | None
    ) -> None:
        self._subject = subject
        self._vault = vault
        self._erased_ids = erased_ids
        store = subject.store_id
        named: set[object] = {store, str(store)} if store is not None else {subject.user_id}
        self._values = named | set(erased_ids)
        self._store_word = re.compile(rf"(?<!\d){store}(?!\d)") if store is not None else None

    def _in(self, *values: object) -> bool:
        return any(_holds(value, self._values) for value in values)

    def entry(self, row: dict[str, Any]) -> bool:
        """A journal entry, from the database or a spill file."""
        destination = _json(row.get("destination")) or {}
        if self._subject.user_id is not None:
            return bool(destination.get("requester") == self._subject.user_id)
        report = _json(row.get("report"))
        if row.get("check_id") in self._erased_ids or self._in(report):
            return True
        sealed = row.get("sealed_paste")
        if sealed and self._vault is not None:
            paste = self._vault.unseal(bytes(sealed))
            if isinstance(paste, CredentialsPaste):
                return paste.credentials.store_id == self._subject.store_id
        answer = row.get("answer")
        # Entries written before the journal kept reports: the store ID in the answer's words.
        return report is None and bool(
            answer and self._store_word and self._store_word.search(json.dumps(answer))
        )

    def step(self, row: dict[str, Any]) -> bool:
        return self._subject.store_id is not None and self._in(
            row.get("check_id"), _json(row.get("outputs"))
        )

    def timed_item(self, row: dict[str, Any]) -> bool:
        return self._in(row.get("subject"), _json(row.get("payload")))

    def flight(self, row: dict[str, Any]) -> bool:
        return self._subject.store_id is not None and self._in(_json(row.get("verdict")))


def _holds(value: object, wanted: set[object]) -> bool:
    """Whether `value` (decoded JSON) is, or holds anywhere, one of `wanted`."""
    if isinstance(value, dict):
        return any(_holds(item, wanted) for item in value.values())
    if isinstance(value, list):
        return any(_holds(item, wanted) for item in value)
    return value is not None and not isinstance(value, bool) and value in wanted


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
