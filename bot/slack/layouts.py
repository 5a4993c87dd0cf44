"""The Slack layouts the answer path renders with, as one set of builders it is given.

The builders themselves live in `handlers.blocks` (the one place where message layout lives);
`handlers.ANSWER_LAYOUTS` gathers the ones below, and the composition roots hand them to
`create_app`. This layer may not import the listeners' package, so it names what it needs here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.db.recorder import UnwrittenCheck
from bot.destination import Destination
from bot.engine.report import CheckReport, Step

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]
"""A message's fallback text and its blocks."""
View = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnswerLayouts:
    """Every message and view of a check's way from the paste to its answer."""

    #: The slash command's thread root, before its answer: (requester) → message.
    thread_root: Callable[[str], Message]
    #: The answer: (report, where it goes, check ID if it may be escalated, `note`, check ID if
    #: it may be watched until migration day) → message.
    result: Callable[[CheckReport, Destination, str | None, Blocks, str | None], Message]
    #: What the answer adds below the report, decided as it is built: (the process's
    #: `BotServices`, where it goes, the check) → blocks. The follow-up's offer.
    note: Callable[[Any, Destination, UnwrittenCheck], Awaitable[Blocks]]
    #: The paste modal's last view: the report.
    result_view: Callable[[CheckReport], View]
    #: The paste modal's "Checking…" ladder, as far as the rungs have come.
    progress_view: Callable[[list[Step]], View]
    #: Something went wrong (a bug): (reference to the log) → message.
    failure: Callable[[str], Message]
    #: The paste modal's view of the same.
    failure_view: Callable[[str], View]
    #: A check interrupted twice, or without a kept paste: (requester) → message.
    interrupted: Callable[[str], Message]
    #: The paste modal's view of the same.
    interrupted_view: Callable[[str], View]
    #: A message Slack refused to post, for the requester alone, saying why:
    #: (Slack's refusal, channel, text, blocks) → message.
    private_copy: Callable[[str, str, str, Blocks | None], tuple[str, Blocks | None]]
