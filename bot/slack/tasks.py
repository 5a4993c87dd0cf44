"""Background work after a Slack acknowledgement: kept referenced, logged, drained on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

logger = logging.getLogger(__name__)

# Slack's requests come in bursts (a channel's worth of clicks, retries), one handled after the
# other with short gaps between: background work starts after a gap this long, not in one.
QUIET_S = 0.002


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
        self._arrivals = 0  # requests that started being answered, ever

    def spawn(
        self,
        work: Coroutine[Any, Any, Any],
        *,
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None = None,
    ) -> asyncio.Task[Any]:
        """Run `work` in the background once the acknowledgements in progress have left, the
        one of the request that spawns it included (Bolt answers as the listener returns:
        `create_app` sets `process_before_response`)."""
        task = asyncio.get_running_loop().create_task(
            self._after_acks(work, name, on_failure), name=name
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Mark a Slack request being answered: background work lets it go first."""
        request = object()
        self._answering.add(request)
        self._arrivals += 1
        try:
            yield
        finally:
            self._answering.discard(request)
            self._one_left.set()
            self._one_left = asyncio.Event()

    async def _after_acks(
        self,
        work: Coroutine[Any, Any, Any],
        name: str,
        on_failure: Callable[[str], Awaitable[None]] | None,
    ) -> Any:
        # Slack waits 3 s at most for an ack: work starts once the requests in progress (its
        # own included) have been answered and none came for QUIET_S – or after `max_yield_s`,
        # so that a steady stream of requests cannot hold it back – never competing with them.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._max_yield_s):
                while True:
                    while self._answering:
                        await self._one_left.wait()
                    # A burst of requests leaves gaps between them: wait for a quiet moment.
                    arrivals = self._arrivals
                    await asyncio.sleep(QUIET_S)
                    if self._arrivals == arrivals and not self._answering:
                        break
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
