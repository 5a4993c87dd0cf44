"""Background work after a Slack acknowledgement: kept referenced, logged, drained on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger(__name__)

# The Slack request being answered in this context (Bolt runs a listener in a copy of the
# request's context): the request whose listener spawns work has decided its answer already.
_ANSWERING: ContextVar[object | None] = ContextVar("answering", default=None)


class TaskSupervisor:
    """Owns every background task so none is garbage-collected or fails unseen.

    Whatever a spawned coroutine lets escape is logged with a reference id, and `on_failure`
    (told that reference) lets the user know; on shutdown, in-flight work gets time to finish.
    """

    def __init__(self, max_yield_s: float = 0.25) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._max_yield_s = max_yield_s
        # The Slack requests being answered, and an event set (then replaced) when one leaves.
        self._answering: set[object] = set()
        self._one_left = asyncio.Event()

    def spawn(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None = None,
    ) -> asyncio.Task[Any]:
        """Run `work` in the background once the other acknowledgements in progress have left.

        Called by a listener after its `ack()`: its own answer is decided, and Bolt sends it
        within 10 ms whatever runs meanwhile, so the work does not wait for that one."""
        task = asyncio.get_running_loop().create_task(
            self._after_acks(work, name, on_failure, _ANSWERING.get()), name=name
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Mark a Slack request being answered: background work lets it go first."""
        request = object()
        self._answering.add(request)
        token = _ANSWERING.set(request)
        try:
            yield
        finally:
            _ANSWERING.reset(token)
            self._answering.discard(request)
            self._one_left.set()
            self._one_left = asyncio.Event()

    async def _after_acks(
        self,
        work: Coroutine[Any, Any, Any],
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None,
        spawned_by: object | None,
    ) -> Any:
        # Slack waits 3 s at most for an ack: work starts once the other requests in progress
        # have been answered (or after `max_yield_s`, so a steady stream of requests cannot
        # hold it back), never competing with them.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._max_yield_s):
                while self._answering - {spawned_by}:
                    await self._one_left.wait()
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
