"""A process that runs timed work and nothing else, for tests that kill it.

`python -m tests.slack.timed_worker DATABASE_URL LOG LEASE_S MODE`: runs the items of kind
`job` on the database at DATABASE_URL; each run's work is one line, the item's ID, appended to
LOG. With MODE `hang`, items whose payload says `slow` never finish: the process holds their
leases until it is killed. With MODE `work`, every item is done at once. SIGTERM stops it
cleanly: nothing more is claimed, and what runs ends (its line written) before it exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.db.database import Database
from bot.db.timed import Again, TimedItem, TimedWork
from bot.metrics import Metrics
from bot.slack.tasks import TaskSupervisor
from bot.slack.timed import TimedWorkRunner

KIND = "job"


def append_line(log: Path, line: str) -> None:
    """One line, appended in one write: lines of several processes never interleave."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, f"{line}\n".encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def main(url: str, log: Path, lease_s: float, mode: str) -> None:
    database = Database.from_url(url)
    await database.migrate()
    tasks = TaskSupervisor()
    runner = TimedWorkRunner(
        TimedWork(database, lease_s), Metrics(), tasks.spawn, timeout_s=600, poll_s=0.2
    )

    async def job(item: TimedItem) -> Again | None:
        if mode == "hang" and item.payload.get("slow"):
            await asyncio.Event().wait()
        append_line(log, item.id)
        return None

    runner.handle({KIND: job})
    runner.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    # From here on SIGTERM is a clean stop: what a test waits for before sending it.
    append_line(log.with_suffix(".started"), str(os.getpid()))
    await stopping.wait()
    await runner.stop()
    await tasks.drain(10)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
