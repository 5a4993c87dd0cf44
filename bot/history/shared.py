"""State that every bot process must share when several run behind a load balancer.

`DatabaseSeenKeys` deduplicates Slack's retries whichever process receives them, and
`DatabaseTokenGuard` keeps one cool-down per token and one failing-request budget for the bot's
IP address, across processes. Times come from each process's clock (kept in sync by NTP), not
from the database server, so tests can move time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import accumulate

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.history.database import Database
from bot.history.models import FailingRequestsRow, SeenKeyRow, TokenCooldownRow, upsert, utcnow

# pg_advisory_xact_lock key serialising the failing-token budget across processes.
_BUDGET_LOCK = 0x4543_5744  # "ECWD"


class DatabaseSeenKeys:
    """`bot.slack.dedup.SeenKeys` in the database: a key is new for one caller, in any process."""

    # Expired rows are deleted on every this-many calls, so the table stays small.
    PRUNE_EVERY = 200

    def __init__(
        self, database: Database, ttl_s: float = 600, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        self._calls = 0

    async def first_time(self, key: str) -> bool:
        """True the first time `key` is seen within the time-to-live, False afterwards."""
        now = self._clock()
        # Only a hash is stored: a caller may build a key from what a user typed.
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        async with self._database.engine.begin() as connection:
            statement = upsert(connection.dialect.name, SeenKeyRow).values(
                key_hash=key_hash, expires_at=now + self._ttl
            )
            # One atomic statement: the row is inserted, or an expired one is taken over; a live
            # row is left alone and nothing is counted. The database's unique key decides races.
            result = await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[SeenKeyRow.key_hash],
                    set_={"expires_at": statement.excluded.expires_at},
                    where=SeenKeyRow.expires_at <= now,
                )
            )
            self._calls += 1
            if self._calls % self.PRUNE_EVERY == 0:
                await connection.execute(sa.delete(SeenKeyRow).where(SeenKeyRow.expires_at <= now))
        return result.rowcount == 1


class DatabaseTokenGuard:
    """`bot.engine.guard.TokenGuard` in the database, with the semantics of `MemoryTokenGuard`.

    Cool-downs are rows of `token_cooldowns` (by fingerprint); the budget counts the rows of
    `failing_requests` of the last minute, written by any process.
    """

    WINDOW_S = 60.0

    def __init__(
        self,
        database: Database,
        cooldown_s: float,
        budget_per_minute: int,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._cooldown = timedelta(seconds=cooldown_s)
        self._budget = budget_per_minute
        self._clock = clock
        self._window = timedelta(seconds=self.WINDOW_S)

    async def cooldown_remaining(self, fingerprint: str) -> float:
        """Seconds before this token may be sent to Ecwid again (0 when it may)."""
        now = self._clock()
        async with self._database.reader.connect() as connection:
            until = await connection.scalar(
                sa.select(TokenCooldownRow.until).where(TokenCooldownRow.fingerprint == fingerprint)
            )
        return max((until - now).total_seconds(), 0.0) if until is not None else 0.0

    async def cool_down(self, fingerprint: str) -> None:
        """Start (or restart) this token's cool-down, for every process."""
        now = self._clock()
        async with self._database.engine.begin() as connection:
            await connection.execute(
                sa.delete(TokenCooldownRow).where(TokenCooldownRow.until <= now)
            )
            statement = upsert(connection.dialect.name, TokenCooldownRow).values(
                fingerprint=fingerprint, until=now + self._cooldown
            )
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[TokenCooldownRow.fingerprint],
                    set_={"until": statement.excluded.until},
                )
            )

    async def budget_wait(self, requests: int) -> float:
        """Seconds before `requests` more failing requests fit in the shared budget (0: now)."""
        now = self._clock()
        async with self._database.reader.connect() as connection:
            spent = await self._spent(connection, now)
        return self._wait(spent, requests, now)

    async def reserve(self, requests: int) -> float:
        """Test and spend in one write transaction, serialised across processes."""
        now = self._clock()
        async with self._database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_BUDGET_LOCK)))
            spent = await self._spent(connection, now)
            wait = self._wait(spent, requests, now)
            if wait == 0:
                await connection.execute(
                    sa.insert(FailingRequestsRow).values(at=now, count=requests)
                )
        return wait

    async def refund(self, requests: int) -> None:
        """A negative spend: what was reserved and did not fail."""
        if requests <= 0:
            return
        async with self._database.engine.begin() as connection:
            await connection.execute(
                sa.insert(FailingRequestsRow).values(at=self._clock(), count=-requests)
            )

    async def _spent(
        self, connection: AsyncConnection, now: datetime
    ) -> list[tuple[datetime, int]]:
        rows = await connection.execute(
            sa.select(FailingRequestsRow.at, FailingRequestsRow.count)
            .where(FailingRequestsRow.at > now - self._window)
            .order_by(FailingRequestsRow.at, FailingRequestsRow.id)
        )
        return [(at, count) for at, count in rows]

    def _wait(self, spent: list[tuple[datetime, int]], requests: int, now: datetime) -> float:
        total = sum(count for _, count in spent)
        overflow = total + requests - self._budget
        if overflow <= 0 or total <= 0:
            return 0.0
        # The budget frees up as the oldest spent requests leave the window.
        needed = min(overflow, total)
        running = accumulate(count for _, count in spent)
        last_needed = next(
            (index for index, freed in enumerate(running) if freed >= needed), len(spent) - 1
        )
        frees_at: datetime = spent[last_needed][0] + self._window
        return max((frees_at - now).total_seconds(), 0.001)

    async def spend(self, failing_requests: int) -> None:
        """Record failing-token requests just sent, and forget those older than the window."""
        if failing_requests <= 0:
            return
        now = self._clock()
        async with self._database.engine.begin() as connection:
            await connection.execute(
                sa.insert(FailingRequestsRow).values(at=now, count=failing_requests)
            )
            await connection.execute(
                sa.delete(FailingRequestsRow).where(FailingRequestsRow.at <= now - self._window)
            )
