"""State that every bot process must share when several run behind a load balancer.

`DatabaseSeenKeys` deduplicates Slack's retries whichever process receives them, and
`DatabaseTokenGuard` keeps one flight and one cool-down per token and one failing-request budget
for the bot's IP address, across processes. Times come from each process's clock (kept in sync
by NTP), not from the database server, so tests can move time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.database import Database
from bot.db.models import (
    FailingRequestsRow,
    SeenKeyRow,
    TokenCooldownRow,
    TokenFlightRow,
    upsert,
    utcnow,
)
from bot.engine.guard import WINDOW_S, Admission, Claim, FlightState, admit
from bot.engine.redaction import redact

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

    Flights are rows of `token_flights`, cool-downs rows of `token_cooldowns` (both by
    fingerprint); the budget counts the rows of `failing_requests` of the last minute, written by
    any process: reservations by their own ID, failures once answered.
    """

    WINDOW_S = WINDOW_S
    # Rows older than the window are deleted on every this-many reservations.
    PRUNE_EVERY = 50

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
        self._reservations = 0

    # Flights.

    async def claim_flight(self, fingerprint: str, lease_s: float) -> Claim:
        """Insert this token's flight row, or take over one that finished or whose owner is
        gone (lease over); then, in the same transaction, look at the cool-down."""
        now = self._clock()
        flight = uuid.uuid4().hex
        async with self._database.engine.connect() as connection:
            transaction = await connection.begin()
            cooling = await self._cooling(connection, fingerprint, now)
            if cooling > 0:
                await transaction.commit()
                return Claim(cooling_s=cooling)
            statement = upsert(connection.dialect.name, TokenFlightRow).values(
                fingerprint=fingerprint,
                flight=flight,
                lease_until=now + timedelta(seconds=lease_s),
                finished=False,
                verdict=None,
            )
            result = await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[TokenFlightRow.fingerprint],
                    set_={
                        "flight": statement.excluded.flight,
                        "lease_until": statement.excluded.lease_until,
                        "finished": statement.excluded.finished,
                        "verdict": statement.excluded.verdict,
                    },
                    where=sa.or_(TokenFlightRow.finished, TokenFlightRow.lease_until <= now),
                )
            )
            if result.rowcount != 1:
                running = await connection.scalar(
                    sa.select(TokenFlightRow.flight).where(
                        TokenFlightRow.fingerprint == fingerprint
                    )
                )
                await transaction.commit()
                return Claim(running=running or "gone")
            # Another process's flight may have ended in a cool-down after the first look and
            # before the row was taken over (PostgreSQL, read committed): look again.
            cooling = await self._cooling(connection, fingerprint, now)
            if cooling > 0:
                await transaction.rollback()
                return Claim(cooling_s=cooling)
            await transaction.commit()
        return Claim(flight=flight)

    async def finish_flight(
        self, fingerprint: str, flight: str, *, verdict: str | None, cool_down: bool
    ) -> None:
        """The cool-down and the end of the flight in one transaction: no claim sees one
        without the other."""
        now = self._clock()
        async with self._database.engine.begin() as connection:
            if cool_down:
                await self._cool(connection, fingerprint, now)
            await connection.execute(
                sa.update(TokenFlightRow)
                .where(TokenFlightRow.fingerprint == fingerprint, TokenFlightRow.flight == flight)
                .values(finished=True, verdict=None if verdict is None else redact(verdict))
            )
            await connection.execute(
                sa.delete(TokenFlightRow).where(
                    TokenFlightRow.finished,
                    TokenFlightRow.lease_until <= now,
                    TokenFlightRow.fingerprint != fingerprint,
                )
            )

    async def flight_state(self, fingerprint: str, flight: str) -> FlightState:
        now = self._clock()
        async with self._database.reader.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(
                        TokenFlightRow.flight,
                        TokenFlightRow.lease_until,
                        TokenFlightRow.finished,
                        TokenFlightRow.verdict,
                    ).where(TokenFlightRow.fingerprint == fingerprint)
                )
            ).one_or_none()
        if row is None or row.flight != flight:
            return FlightState(running=False)
        if row.finished:
            return FlightState(running=False, verdict=row.verdict)
        return FlightState(running=row.lease_until > now)

    # Cool-downs.

    async def cooldown_remaining(self, fingerprint: str) -> float:
        """Seconds before this token may be sent to Ecwid again (0 when it may)."""
        async with self._database.reader.connect() as connection:
            return await self._cooling(connection, fingerprint, self._clock())

    async def cool_down(self, fingerprint: str) -> None:
        """Start (or restart) this token's cool-down, for every process."""
        async with self._database.engine.begin() as connection:
            await self._cool(connection, fingerprint, self._clock())

    async def _cooling(self, connection: AsyncConnection, fingerprint: str, now: datetime) -> float:
        until = await connection.scalar(
            sa.select(TokenCooldownRow.until).where(TokenCooldownRow.fingerprint == fingerprint)
        )
        return max((until - now).total_seconds(), 0.0) if until is not None else 0.0

    async def _cool(self, connection: AsyncConnection, fingerprint: str, now: datetime) -> None:
        await connection.execute(sa.delete(TokenCooldownRow).where(TokenCooldownRow.until <= now))
        statement = upsert(connection.dialect.name, TokenCooldownRow).values(
            fingerprint=fingerprint, until=now + self._cooldown
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[TokenCooldownRow.fingerprint],
                set_={"until": statement.excluded.until},
            )
        )

    # The budget.

    async def reserve(self, requests: int, lease_s: float) -> Admission:
        """Test and count in one write transaction, serialised across processes."""
        now = self._clock()
        cutoff = now - self._window
        async with self._database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_BUDGET_LOCK)))
            rows = await connection.execute(
                sa.select(
                    FailingRequestsRow.at,
                    FailingRequestsRow.count,
                    FailingRequestsRow.reserved_until,
                ).where(
                    sa.or_(
                        sa.and_(
                            FailingRequestsRow.reserved_until.is_(None),
                            FailingRequestsRow.at > cutoff,
                        ),
                        FailingRequestsRow.reserved_until > cutoff,
                    )
                )
            )
            failed: list[tuple[float, int]] = []
            in_flight = 0
            for at, count, reserved_until in rows:
                if reserved_until is None:
                    failed.append(((at - now).total_seconds(), count))
                elif reserved_until > now:
                    in_flight += count
                else:  # never settled (its process is gone): taken as failed when it ended
                    failed.append(((reserved_until - now).total_seconds(), count))
            failed.sort()
            refusal = admit(failed, in_flight, requests, self._budget, 0.0)
            if refusal is not None:
                return refusal
            result = await connection.execute(
                sa.insert(FailingRequestsRow).values(
                    at=now, count=requests, reserved_until=now + timedelta(seconds=lease_s)
                )
            )
            self._reservations += 1
            if self._reservations % self.PRUNE_EVERY == 0:
                await connection.execute(
                    sa.delete(FailingRequestsRow).where(
                        sa.or_(
                            sa.and_(
                                FailingRequestsRow.reserved_until.is_(None),
                                FailingRequestsRow.at <= cutoff,
                            ),
                            FailingRequestsRow.reserved_until <= cutoff,
                        )
                    )
                )
        key = result.inserted_primary_key
        assert key is not None
        return Admission(str(key[0]))

    async def settle(self, reservation: str, failing: int) -> None:
        """Exactly this reservation becomes its failures (answered now), or goes."""
        reserved = FailingRequestsRow.reserved_until.is_not(None)
        mine = FailingRequestsRow.id == int(reservation)
        async with self._database.engine.begin() as connection:
            if failing <= 0:
                await connection.execute(sa.delete(FailingRequestsRow).where(mine, reserved))
                return
            await connection.execute(
                sa.update(FailingRequestsRow)
                .where(mine, reserved)
                # Never more than was reserved (the engine cannot count more failures).
                .where(FailingRequestsRow.count >= failing)
                .values(count=failing, at=self._clock(), reserved_until=None)
            )
