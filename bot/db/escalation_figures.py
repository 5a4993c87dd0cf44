"""The support team's escalation figures: the medians of the support time to a first response and
to resolution, and the answers to "Did it help?", since a given time. They are computed in the
database, over indexes, never by loading rows into Python: PostgreSQL's percentile_cont, or on
SQLite the middle rows of an ordered index scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from bot.db.escalations import Feedback
from bot.db.models import EscalationRow


@dataclass(frozen=True)
class EscalationFigures:
    """The team's response numbers since `since`: medians in support seconds (None: no data),
    and how many answered "Did it help?", how many of them "yes"."""

    since: datetime
    responded: int
    median_response_s: float | None
    resolved: int
    median_resolution_s: float | None
    answered: int
    answered_yes: int

    @property
    def yes_share(self) -> float | None:
        """The share of answers that were "yes", from 0 to 1; None when nobody answered."""
        return self.answered_yes / self.answered if self.answered else None


async def figures_since(connection: AsyncConnection, since: datetime) -> EscalationFigures:
    """Medians of the support time to first response and to resolution of the escalations
    answered (resolved) since `since`, and the answers to "Did it help?" since then."""
    responded, response = await _median(
        connection, EscalationRow.response_s, EscalationRow.responded_at, since
    )
    resolved, resolution = await _median(
        connection, EscalationRow.resolution_s, EscalationRow.resolved_at, since
    )
    yes = sa.func.sum(sa.case((EscalationRow.feedback == Feedback.YES.value, 1), else_=0))
    answered, answered_yes = (
        await connection.execute(
            sa.select(sa.func.count(), yes).where(EscalationRow.feedback_at >= since)
        )
    ).one()
    return EscalationFigures(
        since=since,
        responded=responded,
        median_response_s=response,
        resolved=resolved,
        median_resolution_s=resolution,
        answered=int(answered or 0),
        answered_yes=int(answered_yes or 0),
    )


async def _median(
    connection: AsyncConnection,
    value: InstrumentedAttribute[float | None],
    at: InstrumentedAttribute[datetime | None],
    since: datetime,
) -> tuple[int, float | None]:
    """How many rows have `at` since `since`, and the median of their `value`: PostgreSQL's
    percentile_cont; on SQLite the middle row(s) of an ordered scan of the (at, value) index."""
    window = sa.and_(at >= since, value.is_not(None))
    if connection.dialect.name == "postgresql":
        count, median = (
            await connection.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.percentile_cont(0.5).within_group(value),
                ).where(window)
            )
        ).one()
        return int(count), None if median is None else float(median)
    count = int(await connection.scalar(sa.select(sa.func.count()).where(window)) or 0)
    if count == 0:
        return 0, None
    middle = (
        await connection.execute(
            sa.select(value)
            .where(window)
            .order_by(value)
            .limit(2 - count % 2)
            .offset((count - 1) // 2)
        )
    ).scalars()
    values = [float(v) for v in middle if v is not None]
    return count, sum(values) / len(values)
