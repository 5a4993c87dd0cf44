"""The paste modal's live "Checking…" ladder: its rungs shown as the check climbs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.engine.diagnosis import StepName, StepStatus
from bot.engine.report import Step
from bot.slack.posting import Poster

logger = logging.getLogger(__name__)

# Slack allows views.update about once a second per view before it answers rate_limited.
PROGRESS_INTERVAL_S = 1.0
# Bolt sends the ack up to 10 ms after `ack()`; Slack applies it when it arrives. A fast check's
# `views.update` could overtake it and then be overwritten by "Checking…".
VIEW_UPDATE_AFTER_ACK_S = 0.5


def pending_ladder() -> list[Step]:
    """Every rung, none climbed yet: the ladder the modal shows as the check starts."""
    return [Step(name=name, status=StepStatus.PENDING) for name in StepName]


async def after_ack(acked_at: float) -> None:
    """Let Slack apply the ack's "Checking…" view (acknowledged at `acked_at`, loop time)
    before replacing it."""
    wait = acked_at + VIEW_UPDATE_AFTER_ACK_S - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)


class LiveLadder:
    """The paste modal's "Checking…" ladder, updated as the rungs finish.

    At most one `views.update` per `PROGRESS_INTERVAL_S`, the first after the ack's own view
    has landed; after `close()` none is in flight and none follows, so the result comes last.
    Progress is decoration: a failed update is logged and the check goes on.
    """

    def __init__(
        self,
        poster: Poster,
        view_id: str,
        acked_at: float,
        layout: Callable[[list[Step]], dict[str, Any]],
    ) -> None:
        self._poster = poster
        self._view_id = view_id
        self._layout = layout
        self._steps = {step.name: step for step in pending_ladder()}
        self._changed = asyncio.Event()
        self._sending = asyncio.Lock()
        self._closed = False
        self._next_at = acked_at + VIEW_UPDATE_AFTER_ACK_S
        self._task = asyncio.create_task(self._follow(), name="check progress")

    def on_step(self, step: Step) -> None:
        """The engine's `StepListener`: called as each rung finishes."""
        self._steps[step.name] = step
        self._changed.set()

    async def close(self) -> None:
        self._closed = True
        async with self._sending:  # an update on its way is let through, then no other
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._changed.wait()
            wait = self._next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._sending:
                if self._closed:
                    return
                self._changed.clear()
                view = self._layout(list(self._steps.values()))
                try:
                    await self._poster.update_view(self._view_id, view)
                except Exception:
                    logger.info("the modal's progress could not be shown", exc_info=True)
            self._next_at = loop.time() + PROGRESS_INTERVAL_S
