"""Which check the running code belongs to: log lines carry its id, the history row uses it."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class CheckTrace:
    """One check. `recorded` turns True once the history has used `id` for its row."""

    id: str
    recorded: bool = False


_current: ContextVar[CheckTrace | None] = ContextVar("ecwid_connect_check", default=None)


def begin_check() -> CheckTrace:
    """A new check starts in this task: until the next one, its log lines carry this id.

    Tasks started from here inherit it (asyncio copies the context), so the answer posted and
    the row recorded after the check belong to it too.
    """
    trace = CheckTrace(uuid.uuid4().hex)
    _current.set(trace)
    return trace


def current_check() -> CheckTrace | None:
    return _current.get()
