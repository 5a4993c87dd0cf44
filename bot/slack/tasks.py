"""Background work after a Slack acknowledgement: kept referenced, logged, drained on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class TaskSupervisor:
    """Owns every background task so none is garbage-collected or fails unseen.

    Whatever a spawned coroutine lets escape is logged with a reference id, and `on_failure`
    (told that reference) lets the user know; on shutdown, in-flight work gets time to finish.
    """

    def __init__(self, start_delay_s: float = 0.02, max_yield_s: float = 0.25) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._start_delay_s = start_delay_s
        self._max_yield_s = max_yield_s
        self._acks_pending = 0
        self._no_acks_pending = asyncio.Event()
        self._no_acks_pending.set()

    def spawn(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None = None,
    ) -> asyncio.Task[Any]:
        """Run `work` in the background, starting just after the acknowledgement has left."""
        task = asyncio.get_running_loop().create_task(
            self._after_acks(work, name, on_failure), name=name
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Mark a Slack request being answered: background work lets it go first."""
        self._acks_pending += 1
        self._no_acks_pending.clear()
        try:
            yield
        finally:
            self._acks_pending -= 1
            if self._acks_pending == 0:
                self._no_acks_pending.set()

    async def _after_acks(
        self,
        work: Coroutine[Any, Any, Any],
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None,
    ) -> Any:
        # Bolt answers Slack by polling for the ack every 10 ms, and Slack waits 3 s at most:
        # slow work starts once the acks in progress have left (or after `max_yield_s`, so a
        # steady stream of requests cannot hold it back), never competing with them.
        await asyncio.sleep(self._start_delay_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._max_yield_s):
                await self._no_acks_pending.wait()
        try:
            return await work
        except Exception:
            reference = uuid.uuid4().hex[:10]
            logger.exception("%s failed (reference %s)", name, reference)
            if on_failure is not None:
                try:
                    await on_failure(reference)
                except Exception:
                    logger.exception("could not tell the user about reference %s", reference)
            return None

    def __len__(self) -> int:
        return len(self._tasks)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            logger.warning("background task %s was cancelled", task.get_name())
        elif (error := task.exception()) is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=error)

    async def drain(self, timeout_s: float) -> None:
        """Wait for in-flight work up to `timeout_s`, then cancel what is left."""
        if not self._tasks:
            return
        logger.info("waiting up to %g s for %d checks in flight", timeout_s, len(self._tasks))
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
