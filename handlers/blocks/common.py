"""What every builder shares: escaping, small block helpers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block, ButtonElement, MarkdownTextObject, SectionBlock

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


HOME_LIST_LIMIT = 10
"""How many items an App Home list shows; past it, how many more there are."""


def stoppable_list(title: str, items: Sequence[tuple[str, str]], action_id: str) -> list[Block]:
    """An App Home list under `title`: each item's line (`items` are (line, id)) with a Stop
    button carrying its id, the first `HOME_LIST_LIMIT` of them, then how many more."""
    if not items:
        return [mrkdwn_section(f"{title}\n_None._")]
    blocks: list[Block] = [mrkdwn_section(title)]
    for line, item_id in items[:HOME_LIST_LIMIT]:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=line),
                accessory=ButtonElement(text="Stop", action_id=action_id, value=item_id),
            )
        )
    more = len(items) - HOME_LIST_LIMIT
    if more > 0:
        blocks.append(mrkdwn_section(f"…and {more} more"))
    return blocks


def store_label(store_id: int | None) -> str:
    """A store's ID for a line of text, or "(unknown)"."""
    return escape(str(store_id)) if store_id is not None else "(unknown)"
