"""The database tables, for both the embedded SQLite file and PostgreSQL.

checks              one row per connection check: where it was asked, what it found; no secret
escalations         a check handed to the support team, with its open → taken → resolved state,
                    its response clock (due, first response, reminders) and the customer's feedback
stored_credentials  what was pasted for a check, Fernet-encrypted, deleted once it expires
seen_keys           SHA-256 of keys already handled (Slack retries, double submits), with expiry
token_cooldowns     token fingerprints that may not be sent to Ecwid before `until`
token_flights       the one check of a token in flight (leased), then its secret-free verdict
failing_requests    the failing-token budget: reservations before sending, failures after
held_pastes         a secret spotted in a channel message, Fernet-encrypted, kept a few minutes for
                    its author's private check, then deleted
pending_checks      the journal: every accepted check until its answer is delivered (see
                    `bot.db.journal`); its paste only encrypted, and only with the vault on
step_executions     each run of the Workflow Builder step "Check Ecwid connection": who is asked,
                    where, its state and the outputs it completed with (`bot.db.steps`)
timed_work          what the bot must do later (follow-ups, watches, reminders): a kind, a due
                    time, a secret-free payload, leased while it runs (`bot.db.timed`)
watches             a connected store checked every day until its migration, then a reminder to
                    revoke access; its paste encrypted until then (`bot.db.watches`)
follow_ups          a store the bot keeps checking on its own until it connects (or the window
                    ends), with its paste encrypted until then (`bot.db.follow_ups`)

No column holds a token or a collection URL in plain text: a token appears only masked
(`secret_…a1b2`) or as a one-way fingerprint, and pastes only encrypted. Every time is a
timezone-aware UTC datetime in Python. Alembic's `versions/` create the same schema;
`tests/db/test_database.py` checks that the two agree.

Over 400 lines, yet one thing: every table's columns and indexes, in one place for the
migrations to be compared against.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the default clock everywhere in `bot.db`."""
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so the value is stored as naive UTC
    and read back as aware UTC. Naive datetimes are refused: their meaning would be a guess.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Explicit constraint names, so the migration, the models and every backend agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class CheckRow(Base):
    """One connection check. `created_at` is when the check ran (`CheckReport.checked_at`)."""

    __tablename__ = "checks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    team_id: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    thread_ts: Mapped[str | None] = mapped_column(sa.String(32))
    requester_id: Mapped[str] = mapped_column(sa.String(32))
    entry_point: Mapped[str] = mapped_column(sa.String(16))
    # Ecwid store IDs reach 12 digits: more than a 32-bit integer holds.
    store_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    store_name: Mapped[str | None] = mapped_column(sa.Text)
    diagnosis: Mapped[str] = mapped_column(sa.String(40))
    warnings: Mapped[list[str]] = mapped_column(sa.JSON)
    plan: Mapped[str] = mapped_column(sa.String(64))
    token_masked: Mapped[str | None] = mapped_column(sa.String(64))
    counts: Mapped[dict[str, int | None]] = mapped_column(sa.JSON)
    duration_ms: Mapped[int]
    # The whole report (secret-free by design, redacted once more), to show the check again.
    report: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    __table_args__ = (
        # The team's numbers count checks by diagnosis over a window: one range of this index
        # per diagnosis code, read from the index alone.
        sa.Index(None, "diagnosis", "created_at"),
        sa.Index(None, "store_id", "created_at"),
        sa.Index(None, "requester_id", "created_at"),
    )


class EscalationRow(Base):
    """A check handed to support. `version` counts the changes, so a stale render can be told.

    The response clock: `opened_at` is when it started (creation, or the last reopening),
    `response_due_at` when the first response is due on the support clock; `responded_at` the
    first Take or reply to the customer, `response_s` the support time it took. `reminders_sent`
    counts the reminders in the triage thread since `opened_at`, `owner_reminded_at` the owner's
    private one. `resolution_s` is the support time from `opened_at` to Resolved. `feedback`
    (`yes` or `stuck`) is the customer's answer to "Did it help?", by `feedback_by` at
    `feedback_at`; `reopenings` counts the "Still stuck" answers that reopened it.
    """

    __tablename__ = "escalations"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    check_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("checks.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    team_id: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    thread_ts: Mapped[str | None] = mapped_column(sa.String(32))
    requester_id: Mapped[str] = mapped_column(sa.String(32))
    store_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    diagnosis: Mapped[str] = mapped_column(sa.String(40))
    goal: Mapped[str] = mapped_column(sa.Text)
    urgency: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    taken_by: Mapped[str | None] = mapped_column(sa.String(32))
    taken_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(32))
    resolved_at: Mapped[datetime | None]
    triage_channel: Mapped[str | None] = mapped_column(sa.String(32))
    triage_ts: Mapped[str | None] = mapped_column(sa.String(32))
    version: Mapped[int]
    opened_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    responded_by: Mapped[str | None] = mapped_column(sa.String(32))
    response_s: Mapped[float | None] = mapped_column(sa.Float)
    reminders_sent: Mapped[int] = mapped_column(server_default="0")
    owner_reminded_at: Mapped[datetime | None]
    resolution_s: Mapped[float | None] = mapped_column(sa.Float)
    feedback: Mapped[str | None] = mapped_column(sa.String(16))
    feedback_by: Mapped[str | None] = mapped_column(sa.String(32))
    feedback_at: Mapped[datetime | None]
    reopenings: Mapped[int] = mapped_column(server_default="0")

    __table_args__ = (
        sa.Index(None, "state", "created_at"),
        sa.Index(None, "store_id", "created_at"),
        # Overdue: open, due before now. The medians and the share of "yes" read a window of
        # the last days from these indexes alone.
        sa.Index(None, "state", "response_due_at"),
        sa.Index(None, "responded_at", "response_s"),
        sa.Index(None, "resolved_at", "resolution_s"),
        sa.Index(None, "feedback_at", "feedback"),
        sa.Index(None, "channel_id", "thread_ts"),
    )


class StoredCredentialsRow(Base):
    """The paste of one check, as a Fernet token (encrypted and authenticated)."""

    __tablename__ = "stored_credentials"

    check_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)


class HeldPasteRow(Base):
    """A secret the leak guard spotted, held for its author's private check: a Fernet token
    under an opaque ID (the warning's button carries the ID, never the secret)."""

    __tablename__ = "held_pastes"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)


class SeenKeyRow(Base):
    """A handled key, by its SHA-256: a caller may build keys from what users typed."""

    __tablename__ = "seen_keys"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class TokenCooldownRow(Base):
    """A token (by `Secret.fingerprint`) that may not be sent to Ecwid before `until`."""

    __tablename__ = "token_cooldowns"

    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(index=True)


class TokenFlightRow(Base):
    """The check of a token (by fingerprint) in flight in some process, until `lease_until`.

    Once `finished`, `verdict` holds the owner's report as JSON (secret-free, redacted again) for
    the checks of other processes that waited on it."""

    __tablename__ = "token_flights"

    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    flight: Mapped[str] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime] = mapped_column(index=True)
    finished: Mapped[bool]
    verdict: Mapped[str | None] = mapped_column(sa.Text)


class FailingRequestsRow(Base):
    """`count` failing-token requests, by any process.

    A reservation (`reserved_until` set, `at` when it was made) counts while it is in flight and,
    never settled, as failed at `reserved_until`; once settled, the row holds the requests that
    really failed, answered at `at`, or is gone when none did."""

    __tablename__ = "failing_requests"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    count: Mapped[int]
    reserved_until: Mapped[datetime | None] = mapped_column(index=True)


class PendingCheckRow(Base):
    """An accepted check, from its acknowledgement until its answer is in Slack.

    `state` goes `accepted` → `answered` (the answer is ready, `answer` holds it, delivery may
    still be retrying) → `posted` (the answer is in Slack; the history row is still to be
    written from `check_id` and `report`) → `done`. `owner` is the process running it, which
    renews `lease_until` while alive; once the lease has passed, another process (or the same
    one restarted) claims the row and re-runs, redelivers, records or says the check was
    interrupted. `sealed_paste` is the
    paste, Fernet-encrypted, only when CREDENTIALS_KEY is set, and cleared once done.
    """

    __tablename__ = "pending_checks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16))
    owner: Mapped[str] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime]
    attempts: Mapped[int]
    destination: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    view_id: Mapped[str | None] = mapped_column(sa.String(64))
    sealed_paste: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    answer: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    finished_at: Mapped[datetime | None]
    # Once answered: the check's history ID and its report (secret-free, redacted again), kept
    # until the history row is written, so that the answer's buttons work before it is.
    check_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    __table_args__ = (sa.Index(None, "state", "lease_until"),)


class StepExecutionRow(Base):
    """One execution of the workflow step, keyed by Slack's `function_execution_id`.

    `state` goes `waiting` (the guide is with the person) → `checked` (a check ended: `outputs`
    and `check_id` are set, its answer on its way) → `completed`; or `failed` when it could not
    start. `answer_channel`/`answer_ts` say where the answer landed, for its permalink. Slack's
    token for the execution is never stored.
    """

    __tablename__ = "step_executions"

    execution_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    workflow_execution_id: Mapped[str | None] = mapped_column(sa.String(64))
    team_id: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str | None] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16))
    guide_channel: Mapped[str | None] = mapped_column(sa.String(32))
    guide_ts: Mapped[str | None] = mapped_column(sa.String(32))
    check_id: Mapped[str | None] = mapped_column(sa.String(32))
    outputs: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    answer_channel: Mapped[str | None] = mapped_column(sa.String(32))
    answer_ts: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        sa.Index(None, "user_id", "state"),
        sa.Index(None, "state", "updated_at"),
    )


class TimedWorkRow(Base):
    """One piece of timed work: `kind` (which handler runs it) at `due_at`, with `payload`.

    `state` goes `pending` → `running` (claimed by `owner`, leased until `lease_until`) → `done`,
    `failed` or `cancelled`, or back to `pending` with a new `due_at` when it repeats. `key`,
    when set, is unique: scheduling the same key twice makes one item. `subject` groups the
    items of one thing (a follow-up, an escalation) so they can be read or cancelled together.
    `attempts` counts the claims of the current run (a crash-looping item is given up).
    """

    __tablename__ = "timed_work"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    subject: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16))
    owner: Mapped[str | None] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int]
    runs: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        sa.Index(None, "state", "due_at"),
        sa.Index(None, "state", "lease_until"),
    )


class FollowUpRow(Base):
    """A failed check the bot checks again on its own until it works or `ends_at` passes.

    `state` goes `active` → `succeeded`, `expired`, `changed` (a re-check found something only
    a new URL fixes), `stopped` (someone clicked Stop: `stopped_by`), `superseded` (a newer
    follow-up in the same thread) or `forgotten`. `sealed_paste` is the paste, Fernet-encrypted,
    and is deleted whenever the follow-up leaves `active`.
    """

    __tablename__ = "follow_ups"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16))
    team_id: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    thread_ts: Mapped[str | None] = mapped_column(sa.String(32))
    requester_id: Mapped[str] = mapped_column(sa.String(32))
    entry_point: Mapped[str] = mapped_column(sa.String(16))
    check_id: Mapped[str] = mapped_column(sa.String(32))
    store_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    token_masked: Mapped[str | None] = mapped_column(sa.String(64))
    diagnosis: Mapped[str] = mapped_column(sa.String(40))
    last_diagnosis: Mapped[str] = mapped_column(sa.String(40))
    rechecks: Mapped[int]
    sealed_paste: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    stopped_by: Mapped[str | None] = mapped_column(sa.String(32))
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        sa.Index(None, "state", "requester_id"),
        sa.Index(None, "store_id", "created_at"),
        sa.Index(None, "channel_id", "thread_ts"),
    )


class WatchRow(Base):
    """A connected store checked again every WATCH_EVERY_S until its reminder to revoke access.

    `state` goes `active` → `reminded` (the reminder is posted, the paste deleted), `stopped`
    or `forgotten`. `last_ok` is what the last check found, so that a change is told once.
    `remind_at` is REVOKE_REMINDER_AFTER_H after `migration_date` began in `time_zone`.
    """

    __tablename__ = "watches"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16))
    team_id: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str] = mapped_column(sa.String(32))
    thread_ts: Mapped[str | None] = mapped_column(sa.String(32))
    requester_id: Mapped[str] = mapped_column(sa.String(32))
    watcher_id: Mapped[str] = mapped_column(sa.String(32))
    check_id: Mapped[str] = mapped_column(sa.String(32))
    store_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    migration_date: Mapped[date] = mapped_column(sa.Date)
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    remind_at: Mapped[datetime]
    last_ok: Mapped[bool]
    last_diagnosis: Mapped[str] = mapped_column(sa.String(40))
    checks: Mapped[int]
    changes: Mapped[int]
    sealed_paste: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    finished_at: Mapped[datetime | None]

    __table_args__ = (sa.Index(None, "state", "requester_id"),)


def upsert(dialect_name: str, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can take `ON CONFLICT …`: the two backends spell it the same way."""
    if dialect_name == "postgresql":
        return postgresql.insert(model)
    if dialect_name == "sqlite":
        return sqlite.insert(model)
    raise ValueError(f"unsupported database: {dialect_name}")
