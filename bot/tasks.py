"""Background work after a Slack acknowledgement: kept referenced, logged, drained on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskSupervisor:
    """Owns every background task so none is garbage-collected or fails unseen.

    The coroutines given to `spawn` report their own failures to users; the supervisor is the
    last net: it logs whatever escaped, and on shutdown gives in-flight work time to finish.
    """

    def __init__(self, start_delay_s: float = 0.02) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._start_delay_s = start_delay_s

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run `work` in the background, starting just after the acknowledgement has left."""
        task = asyncio.get_running_loop().create_task(self._after_ack(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def _after_ack(self, work: Coroutine[Any, Any, Any]) -> Any:
        # Bolt answers Slack by polling for the ack every 10 ms. Starting the slow work a little
        # later lets a burst of acks leave before it competes with them for the event loop.
        await asyncio.sleep(self._start_delay_s)
        return await work

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
