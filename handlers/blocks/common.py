"""What every builder shares: where an answer goes, escaping, small block helpers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

Blocks = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a check's answer goes: a channel, a thread in it, who asked.

    `response_url` (from the slash command or the click) is used only where the bot cannot
    post in the channel (a private channel it is not in, a DM between people). `public`
    says whether that fallback may answer for everyone: never after a slash command that
    carried a paste, since Slack would show the command, paste included, with the answer.
    None of this is secret: it travels in a modal's `private_metadata`.
    """

    channel: str
    thread_ts: str | None
    requester: str
    response_url: str | None = None
    team: str = ""
    entry: str = "modal"  # how the check was started, for the history
    public: bool = True

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
            entry=str(data.get("entry") or "modal"),
            public=bool(data.get("public", True)),
        )

    def in_thread(self, thread_ts: str | None) -> Destination:
        return replace(self, thread_ts=thread_ts)


def escape(text: str) -> str:
    """Escape text from outside (store names) so Slack shows it literally, no mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_dicts(blocks: list[Block]) -> Blocks:
    """Validate (slack_sdk checks Slack's limits) and turn into plain dicts."""
    return [block.to_dict() for block in blocks]


SECTION_TEXT_LIMIT = 3000


def clip(text: str, limit: int) -> str:
    """Cut `text` to Slack's `limit`, saying so with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn_section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT_LIMIT)))


def age_text(since: datetime, now: datetime) -> str:
    """How long ago, for people: "12 min", "5 h", "3 days"."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"
