"""The runner of timed work in the bot process: claims due items, runs their kind's handler,
keeps their leases alive meanwhile, and gives back what it holds when the bot stops.

What a kind does is its handler's business (`handlers.timed` names them all); this module only
decides when, and makes sure one process at a time runs each item (`bot.db.timed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.db.timed import Again, TimedItem, TimedWork
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

TimedHandler = Callable[[TimedItem], Awaitable[Again | None]]
"""Runs one item: None when it is done, `Again` for its next run."""

Spawn = Callable[..., Any]
"""Starts a coroutine in the background: `TaskSupervisor.spawn(work, name=...)`."""

# Items one process runs at once: a thousand due together are worked through, not all begun.
MAX_RUNNING = 20
# How often to look for due items when none is known to be due sooner.
POLL_S = 1.0


class TimedWorkRunner:
    """Runs the items of the kinds in `handlers` as they come due, `MAX_RUNNING` at a time.

    `start()` begins the loop; `stop()` stops claiming and lets what runs finish within the
    caller's drain, its leases renewed; `release()` then gives back any item still held, due
    at once, for the next process.
    A handler that raises has its item tried again later (`TimedWork.failed`); one that runs
    longer than `timeout_s` is cancelled and counted as failed.
    """

    def __init__(
        self,
        work: TimedWork,
        metrics: Metrics,
        spawn: Spawn,
        *,
        timeout_s: float,
        poll_s: float = POLL_S,
        max_running: int = MAX_RUNNING,
    ) -> None:
        self.work = work
        self._metrics = metrics
        self._spawn = spawn
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._max_running = max_running
        self._handlers: dict[str, TimedHandler] = {}
        self._running: dict[str, TimedItem] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing_since: float | None = None

    @property
    def running(self) -> int:
        """Items this process is running now."""
        return len(self._running)

    def handle(self, handlers: Mapping[str, TimedHandler]) -> None:
        """Run the items of these kinds (from now on, in this process)."""
        self._handlers.update(handlers)
        self._wake.set()

    def wake(self) -> None:
        """Look for due items now: something was just scheduled."""
        self._wake.set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop().create_task(self._keep(), name="timed work")

    async def stop(self) -> None:
        """Stop claiming. What runs goes on until the caller's drain ends it, its leases still
        renewed (else another process would take it over and run it a second time meanwhile)
        until it ends, or until `release`."""
        self._stopping = True
        self._wake.set()

    async def release(self) -> None:
        """Stop renewing, and give back what is still held (cut short by the drain), due at
        once."""
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        try:
            await self.work.release(list(self._running))
        except Exception as error:
            # The leases run out by themselves: whoever runs next takes the items over.
            logger.warning("could not give back timed work: %s", type(error).__name__)
        self._running.clear()

    async def _keep(self) -> None:
        renew_every = self.work.lease_s / 3
        renewed = time.monotonic()
        while not (self._stopping and not self._running):
            self._wake.clear()
            try:
                if time.monotonic() - renewed >= renew_every:
                    await self.work.renew(list(self._running))
                    renewed = time.monotonic()
                if self._stopping:  # draining: only the leases are kept
                    wait = renew_every
                else:
                    claimed = await self._claim()
                    wait = 0.0 if claimed else await self._until_next(renew_every)
                self._recovered()
            except Exception as error:
                self._failing(error)
                wait = self._poll_s
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _claim(self) -> bool:
        """Claim and start what is due, as far as there is room; True when the batch was full
        (there may be more)."""
        room = self._max_running - len(self._running)
        if room <= 0 or not self._handlers:
            return False
        items = await self.work.claim(self._handlers, room)
        for item in items:
            self._running[item.id] = item
            self._spawn(self._run(item), name=f"timed {item.kind}")
        return len(items) == room

    async def _until_next(self, renew_every: float) -> float:
        """Seconds until the next item is due, at most the poll interval (and a renewal's)."""
        if len(self._running) >= self._max_running:
            return min(self._poll_s, renew_every)
        due = await self.work.next_due(self._handlers)
        wait = min(self._poll_s, renew_every)
        if due is not None:
            wait = min(wait, max(0.0, (due - self.work.clock()).total_seconds()))
        return wait

    async def _run(self, item: TimedItem) -> None:
        handler = self._handlers[item.kind]
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome = await handler(item)
        except asyncio.CancelledError:
            # The bot is stopping and its drain ran out: `release` gives the item back.
            raise
        except Exception as error:
            logger.exception("timed %s %s failed", item.kind, item.id)
            await self._write_end(item, functools.partial(self.work.failed, item, error))
            self._done(item, "failed")
            return
        kept = await self._write_end(item, lambda: self.work.finish(item, outcome))
        self._done(item, ("again" if outcome is not None else "done") if kept else "lost")

    async def _write_end(self, item: TimedItem, write: Callable[[], Awaitable[bool]]) -> bool:
        """Write how the item's run ended, trying again while the database fails: a process
        never takes back its own items, so an end left unwritten would hold the item, unrun,
        until a restart. Meanwhile the item stays held and its lease renewed; when the lease
        passes first, another process takes the item over and this write finds it gone (False).
        """
        while True:
            try:
                return await write()
            except Exception as error:
                self._failing(error)
                # Cancelled by the drain: the item is still held, `release` gives it back.
                await asyncio.sleep(self._poll_s)

    def _done(self, item: TimedItem, result: str) -> None:
        self._running.pop(item.id, None)
        self._metrics.timed_work.labels(item.kind, result).inc()
        self._wake.set()  # a slot is free: look for more at once

    def _failing(self, error: BaseException) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            logger.warning("timed work: the database failed (%s)", type(error).__name__)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            logger.info(
                "timed work: the database answers again after %.0f s",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
