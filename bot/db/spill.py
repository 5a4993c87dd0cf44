"""Where the journal keeps, on this machine's disk, what the database could not take.

While the database is unreachable, the journal's entries live in process memory: a process killed
then would take its accepted checks with it. So every entry the database refuses is also written
here, and removed once the database has it. Each process has its own file in DATA_DIR,
`journal-spill-<owner>.sqlite3`, and holds an exclusive lock (`flock`) on it while it lives. A
process on the same DATA_DIR (the same one restarted, usually) finds the files no live process
holds, publishes their entries to the database once it answers – as the dead owner's, with its
expired lease, so that the journal's usual take-over finishes each exactly once, whichever
replica claims it – and deletes them.

What is written is the journal's row: where the answer goes, the state, the answer once ready
(secret-free, like every message the bot posts) and the paste only as the vault sealed it. The
file never holds a collection URL or a token in plain text.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

PREFIX = "journal-spill-"
# How long an erasure waits for a running process writing to its own file.
ERASE_WAIT_S = 30.0
_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, row TEXT NOT NULL)"
_DATETIMES = ("created_at", "lease_until", "finished_at")


def _encode(row: dict[str, Any]) -> str:
    values = dict(row)
    for name in _DATETIMES:
        if isinstance(values.get(name), datetime):
            values[name] = values[name].isoformat()
    if isinstance(values.get("sealed_paste"), bytes):
        values["sealed_paste"] = base64.b64encode(values["sealed_paste"]).decode()
    return json.dumps(values)


def _decode(text: str) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(text)
    for name in _DATETIMES:
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    if isinstance(values.get("sealed_paste"), str):
        values["sealed_paste"] = base64.b64decode(values["sealed_paste"])
    return values


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # WAL without a sync per write: what is written survives the process, which is the point.
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(_SCHEMA)
    return connection


def _try_lock(path: Path) -> IO[bytes] | None:
    """An exclusive lock on `path` (created if needed), or None when a live process holds it."""
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@dataclass
class OrphanSpill:
    """The spill file of a process that is gone, locked by this one until `remove`."""

    path: Path
    rows: list[dict[str, Any]]
    _lock: IO[bytes]

    def remove(self) -> None:
        """Every row is in the database: the file goes, and its lock with it."""
        _remove(self.path)
        self._lock.close()

    def release(self) -> None:
        """Not published this time (the database is still away): free it for a later look."""
        self._lock.close()


def _lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


def _remove(path: Path) -> None:
    """A spill file, its SQLite companions and its lock file."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    _lock_path(path).unlink(missing_ok=True)


def erase_spilled(directory: Path, names: Callable[[dict[str, Any]], bool]) -> int:
    """Delete, from every spill file in `directory`, the entries `names` picks (`forget`); how
    many. A running process's file too: SQLite lets the two writers take turns."""
    erased = 0
    for path in sorted(directory.glob(f"{PREFIX}*.sqlite3")):
        connection = sqlite3.connect(path, isolation_level=None, timeout=ERASE_WAIT_S)
        try:
            found = connection.execute("SELECT id, row FROM entries").fetchall()
            doomed = [(entry_id,) for entry_id, text in found if names(_decode(text))]
            connection.executemany("DELETE FROM entries WHERE id = ?", doomed)
        finally:
            connection.close()
        erased += len(doomed)
    return erased


class JournalSpill:
    """This process's spill file (opened at the first entry it keeps) and its predecessors'."""

    def __init__(self, directory: Path, owner: str) -> None:
        self._directory = directory
        self._path = directory / f"{PREFIX}{owner}.sqlite3"
        self._connection: sqlite3.Connection | None = None
        self._lock: IO[bytes] | None = None
        self._kept: set[str] = set()

    def keep(self, row: dict[str, Any]) -> None:
        """Write (or rewrite) `row`, an entry the database did not take."""
        connection = self._open()
        connection.execute(
            "INSERT INTO entries (id, row) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET row = excluded.row",
            (row["id"], _encode(row)),
        )
        self._kept.add(row["id"])

    def drop(self, entry_id: str) -> None:
        """The database has the entry now."""
        if entry_id not in self._kept or self._connection is None:
            return
        self._connection.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        self._kept.discard(entry_id)

    def orphans(self) -> Iterator[OrphanSpill]:
        """The spill files of processes that are gone, each locked while it is handled."""
        for path in sorted(self._directory.glob(f"{PREFIX}*.sqlite3")):
            if path == self._path:
                continue
            lock = _try_lock(_lock_path(path))
            if lock is None:
                continue  # its process is alive
            try:
                connection = sqlite3.connect(path, isolation_level=None)
                try:
                    found = connection.execute("SELECT row FROM entries").fetchall()
                    rows = [_decode(text) for (text,) in found]
                finally:
                    connection.close()
            except (sqlite3.Error, ValueError):
                logger.exception("could not read the journal spill file %s", path.name)
                lock.close()
                continue
            yield OrphanSpill(path, rows, lock)

    def close(self) -> None:
        """On a clean stop: an empty file goes; one that still holds entries stays for the next
        process."""
        if self._connection is None:
            return
        self._connection.close()
        self._connection = None
        if not self._kept:
            _remove(self._path)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._lock = _try_lock(_lock_path(self._path))
            if self._lock is None:  # cannot happen: the name is this process's own
                raise RuntimeError(f"{self._path.name} is locked by another process")
            self._connection = _connect(self._path)
            os.chmod(self._path, 0o600)  # only this service's user reads the journal
        return self._connection
