"""What every builder shares: escaping, small block helpers."""

from __future__ import annotations

from datetime import UTC, datetime
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

# When a payload lacks what the bot needs (a form or button from an earlier version of the bot,
# a field Slack left out): what the person is told. Inline errors are plain text.
FORM_OUT_OF_DATE = "This form is out of date: close it and open it again."
CLICK_AGAIN = "Slack did not send everything this needs, so nothing happened: please try again."


def clip(text: str, limit: int) -> str:
    """Cut `text` to Slack's `limit`, saying so with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn_section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT_LIMIT)))


def slack_date(when: datetime) -> str:
    """`when` as Slack shows dates: in each viewer's own time zone, "Today at 14:05" while that
    holds, so it never goes stale; the fallback (notifications, old clients) is UTC."""
    if when.tzinfo is None:  # SQLite hands back naive datetimes: the database stores UTC
        when = when.replace(tzinfo=UTC)
    fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"
