"""Where a check's answer goes, and how the check was asked for: the one idea every layer shares.

The Slack layer builds a `Destination` from a command, click or event; the history records it
with the check; the command line has its own. None of it is secret: it travels in a modal's
`private_metadata`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum


class EntryPoint(StrEnum):
    """How a check was asked for."""

    COMMAND = "command"
    MODAL = "modal"
    SHORTCUT = "shortcut"
    MENTION = "mention"
    DM = "dm"  # a message to the bot in its Messages tab
    LEAK_WARNING = "leak_warning"  # the private check offered with a pasted secret's warning
    RERUN = "rerun"
    WORKFLOW = "workflow"  # the paste modal of a Workflow Builder step
    FOLLOW_UP = "follow_up"  # the bot checking again on its own (`bot.db.follow_ups`)
    WATCH = "watch"  # a watched store's daily check (`bot.db.watches`)
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class Destination:
    """A channel, a thread in it, who asked, in which workspace, and how.

    `response_url` (from the slash command or the click) is used only where the bot cannot
    post in the channel (a private channel it is not in, a DM between people). `public`
    says whether that fallback may answer for everyone: never after a slash command that
    carried a paste, since Slack would show the command, paste included, with the answer.
    `step` travels with the check (modal, journal) so that whichever process answers it also
    completes the workflow step.
    """

    channel: str
    thread_ts: str | None
    requester: str
    response_url: str | None = None
    team: str = ""
    entry: EntryPoint = EntryPoint.MODAL
    public: bool = True
    #: The Workflow Builder step execution (`Fx…`) this check completes, if a step asked for it.
    step: str | None = None

    def to_metadata(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_metadata(cls, metadata: str) -> Destination:
        data = json.loads(metadata)
        return cls(
            channel=str(data["channel"]),
            thread_ts=data.get("thread_ts"),
            requester=str(data["requester"]),
            response_url=data.get("response_url"),
            team=str(data.get("team") or ""),
            entry=EntryPoint(data.get("entry") or EntryPoint.MODAL),
            public=bool(data.get("public", True)),
            step=str(data["step"]) if data.get("step") else None,
        )

    def in_thread(self, thread_ts: str | None) -> Destination:
        return replace(self, thread_ts=thread_ts)

    def started_by(self, entry: EntryPoint) -> Destination:
        return replace(self, entry=entry)


COMMAND_LINE = Destination(channel="cli", thread_ts=None, requester="cli", entry=EntryPoint.CLI)
"""Where the command line's checks are recorded as asked from."""
