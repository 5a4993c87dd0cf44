"""What every builder shares: escaping, small block helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

Blocks = list[dict[str, Any]]


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
