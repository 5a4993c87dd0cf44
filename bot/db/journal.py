"""The check journal: every accepted check, from its acknowledgement until its answer is in Slack.

A check lives in process memory while it runs; the journal is what survives the process. Each
entry (`pending_checks`) names where the answer goes (`Destination`, and the modal's view id) and
who runs it: the process (`owner`), which renews its lease while alive (`heartbeat`). Once an
owner's lease has passed (it was killed, or lost its machine), any process on the same database
claims the entry (`claim_orphans`) and finishes it: it re-runs the check when the paste is in the
vault (CREDENTIALS_KEY set; the paste is kept only encrypted, and dropped once done), redelivers
an answer that was ready but not yet in Slack, writes the history row of one that was in Slack
(the entry keeps the check's ID and secret-free report until then), or else tells the person the
check was interrupted. A claim is a conditional UPDATE on an expired lease (with `FOR UPDATE SKIP
LOCKED` on PostgreSQL), so of several replicas exactly one takes each entry.

While the database is unreachable the entries stay in memory, marked to be written once it is back
(`heartbeat`); a process that saw the database fail claims nothing for one lease afterwards, so
that owners alive through the outage renew their leases first.

Over 400 lines, yet one thing: the `pending_checks` table's whole protocol (accept, lease,
answer, deliver, claim, purge), kept together because its states are only safe read as one.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.db.check_rows import redacted_report
from bot.db.database import Database
from bot.db.health import DatabaseHealth
from bot.db.models import PendingCheckRow, upsert, utcnow
from bot.db.recorder import UnwrittenCheck
from bot.db.spill import JournalSpill
from bot.db.vault import CredentialVault
from bot.destination import Destination
from bot.engine.intake import Paste
from bot.engine.report import CheckReport

logger = logging.getLogger(__name__)

KEEP_DONE = timedelta(days=1)
GIVE_UP_AFTER = timedelta(days=2)


class JournalState(StrEnum):
    ACCEPTED = "accepted"
    ANSWERED = "answered"
    POSTED = "posted"
    DONE = "done"


_OPEN = (JournalState.ACCEPTED.value, JournalState.ANSWERED.value, JournalState.POSTED.value)


@dataclass(frozen=True, slots=True)
class Answer:
    """A check's answer, ready to deliver: the thread message, the modal's final view (if the
    check came from a modal), the reaction for the thread root and the check's ID, which the
    message carries in its metadata so that a redelivery finds it. Secret-free, like every
    message the bot posts."""

    text: str
    blocks: list[dict[str, Any]]
    view: dict[str, Any] | None = None
    reaction: str | None = None
    check_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "blocks": self.blocks,
            "view": self.view,
            "reaction": self.reaction,
            "check_id": self.check_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            text=str(data["text"]),
            blocks=list(data.get("blocks") or []),
            view=data.get("view"),
            reaction=data.get("reaction"),
            check_id=data.get("check_id"),
        )


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """An accepted check as the journal holds it. `paste` is there only when the vault is on
    and could read it; `answer` once the check's answer is ready, with the `check_id` and
    `report` its history row is written from; `posted` once the answer is in Slack; `attempts`
    counts claims."""

    id: str
    destination: Destination
    view_id: str | None
    paste: Paste | None
    answer: Answer | None
    attempts: int
    check_id: str | None = None
    report: CheckReport | None = None
    posted: bool = False


class CheckJournal:
    """The journal of one process (`owner`), over `database`, with memory as its fallback."""

    def __init__(
        self,
        database: Database,
        vault: CredentialVault,
        health: DatabaseHealth,
        *,
        lease_s: float,
        clock: Callable[[], datetime] = utcnow,
        spill_directory: Path | None = None,
    ) -> None:
        """`spill_directory` (DATA_DIR): where entries the database refuses are kept on disk
        (`bot.db.spill`), so that a process killed during an outage loses none."""
        self.owner = uuid.uuid4().hex
        self._database = database
        self._vault = vault
        self._health = health
        self._lease = timedelta(seconds=lease_s)
        self._clock = clock
        # This process's open entries, as rows; those in `_dirty` are not yet in the database.
        self._mine: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._quiet_until = clock()
        self._spill = JournalSpill(spill_directory, self.owner) if spill_directory else None

    @property
    def open_entries(self) -> int:
        """Entries this process holds that are not done yet."""
        return len(self._mine)

    @property
    def unwritten(self) -> int:
        """Entries kept only in memory, waiting for the database."""
        return len(self._dirty)

    async def accept(
        self, destination: Destination, paste: Paste | None, *, view_id: str | None = None
    ) -> str:
        """Journal a check just accepted; its journal ID. Never raises for the database."""
        now = self._clock()
        entry_id = uuid.uuid4().hex
        self._mine[entry_id] = {
            "id": entry_id,
            "created_at": now,
            "state": JournalState.ACCEPTED.value,
            "owner": self.owner,
            "lease_until": now + self._lease,
            "attempts": 0,
            "destination": _destination_json(destination),
            "view_id": view_id,
            "sealed_paste": self._vault.seal(paste) if paste is not None else None,
            "answer": None,
            "finished_at": None,
            "check_id": None,
            "report": None,
        }
        await self._write(entry_id, "journaling a check")
        return entry_id

    async def moved(self, entry_id: str, destination: Destination) -> None:
        """The answer now goes to `destination` (the thread the bot just started)."""
        await self._change(entry_id, destination=_destination_json(destination))

    async def answered(
        self,
        entry_id: str,
        answer: Answer,
        *,
        check_id: str | None = None,
        report: CheckReport | None = None,
    ) -> None:
        """The answer is ready: from now on a restart redelivers it instead of re-running; with
        `check_id` and `report`, it also writes the check's history row."""
        await self._change(
            entry_id,
            state=JournalState.ANSWERED.value,
            answer=answer.to_json(),
            sealed_paste=None,
            check_id=check_id,
            report=redacted_report(report) if report is not None else None,
        )

    async def posted(self, entry_id: str) -> None:
        """The answer is in Slack; the history row is still to be written (then `done`)."""
        await self._change(entry_id, state=JournalState.POSTED.value)

    async def find_check(self, check_id: str) -> UnwrittenCheck | None:
        """The answered check `check_id`, as this process's journal holds it or, failing that,
        the database's (another process answered it); None when neither knows it (yet)."""
        rows = [row for row in self._mine.values() if row.get("check_id") == check_id]
        if not rows:
            try:
                async with self._database.reader.connect() as connection:
                    found = (
                        await connection.execute(
                            sa.select(
                                PendingCheckRow.check_id,
                                PendingCheckRow.report,
                                PendingCheckRow.destination,
                            ).where(PendingCheckRow.check_id == check_id)
                        )
                    ).first()
            except Exception:
                logger.debug("the journal could not look for check %s", check_id, exc_info=True)
                return None
            rows = [dict(found._mapping)] if found is not None else []
        for row in rows:
            if row.get("report"):
                return UnwrittenCheck(
                    check_id,
                    CheckReport.model_validate(row["report"]),
                    Destination.from_metadata(json.dumps(row["destination"])),
                    None,
                )
        return None

    async def done(self, entry_id: str) -> None:
        """The person has their answer (or was told the check failed): nothing left to do."""
        await self._change(
            entry_id,
            state=JournalState.DONE.value,
            sealed_paste=None,
            finished_at=self._clock(),
        )

    async def later(self, entry_id: str) -> None:
        """Give the entry up for now (Slack kept failing): the next look for interrupted checks,
        in this process or another, takes it again."""
        row = self._mine.get(entry_id)
        if row is None:
            return
        row.update(owner="", lease_until=self._clock())
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(
                    sa.update(PendingCheckRow)
                    .where(PendingCheckRow.id == entry_id, PendingCheckRow.owner == self.owner)
                    .values(owner="", lease_until=row["lease_until"])
                )
        except Exception as error:
            row["owner"] = self.owner  # kept, and tried again by this process's heartbeat
            self._failed("giving a check back to the journal", error)
            return
        del self._mine[entry_id]
        self._dirty.discard(entry_id)

    async def heartbeat(self) -> None:
        """Write what waited for the database (this process's, and what processes gone during
        an outage left on disk), and renew this process's leases."""
        if not await self._publish_spilled():
            return
        for entry_id in list(self._dirty):
            if not await self._write(entry_id, "writing the journal kept in memory"):
                return
        lease_until = self._clock() + self._lease
        ticket = self._health.attempt()
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(
                    sa.update(PendingCheckRow)
                    .where(PendingCheckRow.owner == self.owner, PendingCheckRow.state.in_(_OPEN))
                    .values(lease_until=lease_until)
                )
        except Exception as error:
            self._failed("renewing the journal's leases", error, ticket)
            return
        for row in self._mine.values():
            row["lease_until"] = lease_until
        self._health.succeeded(ticket)

    async def release(self) -> None:
        """On shutdown: end the leases of this process's open entries, so that whoever starts
        next finishes them at once."""
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(
                    sa.update(PendingCheckRow)
                    .where(PendingCheckRow.owner == self.owner, PendingCheckRow.state.in_(_OPEN))
                    .values(lease_until=self._clock())
                )
        except Exception as error:
            # The leases run out by themselves: whoever starts next takes the checks over.
            logger.warning("could not release the journal's leases: %s", type(error).__name__)

    async def claim_orphans(self, limit: int = 20) -> list[JournalEntry]:
        """Take up to `limit` open entries whose owner's lease has passed; they are this
        process's now (re-run, redeliver or say they were interrupted, then `done`)."""
        now = self._clock()
        if now < self._quiet_until:
            return []
        expired = sa.and_(
            PendingCheckRow.state.in_(_OPEN),
            PendingCheckRow.lease_until < now,
            PendingCheckRow.owner != self.owner,
        )
        claimed: list[dict[str, Any]] = []
        ticket = self._health.attempt()
        try:
            async with self._database.engine.begin() as connection:
                ids = list(
                    await connection.scalars(
                        sa.select(PendingCheckRow.id)
                        .where(expired)
                        .order_by(PendingCheckRow.created_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                for entry_id in ids:
                    # Compare-and-set on the expired lease: of racing processes, one wins.
                    result = await connection.execute(
                        sa.update(PendingCheckRow)
                        .where(PendingCheckRow.id == entry_id, expired)
                        .values(
                            owner=self.owner,
                            lease_until=now + self._lease,
                            attempts=PendingCheckRow.attempts + 1,
                        )
                    )
                    if result.rowcount != 1:
                        continue
                    row = (
                        await connection.execute(
                            sa.select(PendingCheckRow).where(PendingCheckRow.id == entry_id)
                        )
                    ).one()
                    claimed.append({str(k): v for k, v in row._mapping.items()})
        except Exception as error:
            self._failed("looking for interrupted checks", error, ticket)
            return []
        self._health.succeeded(ticket)
        entries = []
        for values in claimed:
            self._mine[values["id"]] = values
            sealed = values["sealed_paste"]
            entries.append(
                JournalEntry(
                    id=values["id"],
                    destination=Destination.from_metadata(json.dumps(values["destination"])),
                    view_id=values["view_id"],
                    paste=self._vault.unseal(sealed) if sealed is not None else None,
                    answer=Answer.from_json(values["answer"]) if values["answer"] else None,
                    attempts=values["attempts"],
                    check_id=values.get("check_id"),
                    report=(
                        CheckReport.model_validate(values["report"])
                        if values.get("report")
                        else None
                    ),
                    posted=values["state"] == JournalState.POSTED.value,
                )
            )
        if entries:
            logger.warning("took over %d interrupted checks", len(entries))
        return entries

    async def purge(self) -> int:
        """Forget entries done for a day, and give up on any open for two (logged)."""
        now = self._clock()
        async with self._database.engine.begin() as connection:
            done = await connection.execute(
                sa.delete(PendingCheckRow).where(
                    PendingCheckRow.state == JournalState.DONE.value,
                    PendingCheckRow.finished_at < now - KEEP_DONE,
                )
            )
            stale = await connection.execute(
                sa.delete(PendingCheckRow).where(PendingCheckRow.created_at < now - GIVE_UP_AFTER)
            )
        if stale.rowcount:
            logger.error("gave up on %d checks never answered in two days", stale.rowcount)
        return int(done.rowcount) + int(stale.rowcount)

    async def _change(self, entry_id: str, **values: Any) -> None:
        row = self._mine.get(entry_id)
        if row is None:
            logger.warning("journal entry %s is not this process's", entry_id)
            return
        row.update(values)
        await self._write(entry_id, "updating the journal")

    async def _write(self, entry_id: str, what: str) -> bool:
        """Put this process's entry into the database as it is now; False when it failed (the
        entry is then written by a later `heartbeat`)."""
        row = self._mine[entry_id]
        # The owner is alive (it is writing): the lease runs from now, never from an old copy.
        row["lease_until"] = self._clock() + self._lease
        ticket = self._health.attempt()
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(_entry_upsert(connection.dialect.name, self.owner), row)
        except Exception as error:
            self._dirty.add(entry_id)
            self._health.journal_unwritten = len(self._dirty)
            self._failed(what, error, ticket)
            self._keep_on_disk(row)
            return False
        self._dirty.discard(entry_id)
        self._health.journal_unwritten = len(self._dirty)
        if self._spill is not None:
            self._spill.drop(entry_id)
        if row["state"] == JournalState.DONE.value:
            del self._mine[entry_id]
        self._health.succeeded(ticket)
        return True

    def _keep_on_disk(self, row: dict[str, Any]) -> None:
        if self._spill is None:
            return
        try:
            self._spill.keep(row)
        except Exception:
            logger.exception("could not keep journal entry %s on disk either", row["id"])

    async def _publish_spilled(self) -> bool:
        """Put the entries of processes that died while the database was away into it, as
        theirs (their leases long over): the usual take-over finishes them. False when the
        database failed (they stay on disk for the next round)."""
        if self._spill is None:
            return True
        for orphan in self._spill.orphans():
            try:
                async with self._database.engine.begin() as connection:
                    statement = _entry_upsert(connection.dialect.name, None)
                    for row in orphan.rows:
                        await connection.execute(statement, row)
            except Exception as error:
                orphan.release()
                self._failed("publishing the journal a stopped process left on disk", error)
                return False
            orphan.remove()
            open_rows = sum(row["state"] != JournalState.DONE.value for row in orphan.rows)
            logger.warning(
                "found %d checks a stopped process kept on disk during a database outage"
                " (%d not finished): they are in the journal now",
                len(orphan.rows),
                open_rows,
            )
        return True

    def close(self) -> None:
        """On a clean stop: this process's file on disk goes, unless it still holds entries."""
        if self._spill is not None:
            self._spill.close()

    def _failed(self, what: str, error: BaseException, ticket: int | None = None) -> None:
        self._quiet_until = self._clock() + self._lease
        self._health.failed(what, error, ticket)
        logger.debug("journal: %s failed", what, exc_info=True)


def _destination_json(destination: Destination) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(destination.to_metadata())
    return data


@functools.cache
def _entry_upsert(dialect: str, owner: str | None) -> sa.Executable:
    """The statement that writes a whole entry, built once (building it anew costs more CPU
    than SQLite's own work, and every check writes three times). Never over an entry another
    process has taken over meanwhile: it overwrites only rows of `owner` (a journal's own), or,
    with None, of the owner the written row names (publishing a dead process's spill)."""
    statement = upsert(dialect, PendingCheckRow)
    columns = [column.name for column in PendingCheckRow.__table__.columns]
    return statement.on_conflict_do_update(
        index_elements=[PendingCheckRow.id],
        set_={name: statement.excluded[name] for name in columns if name != "id"},
        where=PendingCheckRow.owner == (statement.excluded["owner"] if owner is None else owner),
    )
