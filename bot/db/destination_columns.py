"""Where a check was asked, as the four columns the `checks`, `escalations`, `follow_ups` and
`watches` tables share (team, channel, thread, requester), and back into a `Destination`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.destination import Destination, EntryPoint


def destination_columns(destination: Destination) -> dict[str, str | None]:
    """The columns that say where a check or escalation was asked."""
    return {
        "team_id": destination.team,
        "channel_id": destination.channel,
        "thread_ts": destination.thread_ts,
        "requester_id": destination.requester,
    }


def destination_of(row: Mapping[Any, Any], entry: str = EntryPoint.MODAL) -> Destination:
    """Where a recorded check or escalation was asked."""
    return Destination(
        channel=row["channel_id"],
        thread_ts=row["thread_ts"],
        requester=row["requester_id"],
        team=row["team_id"],
        entry=EntryPoint(entry),
    )
