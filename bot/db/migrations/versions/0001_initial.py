"""The initial schema: checks, escalations, stored credentials and the shared state tables.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _place() -> list[sa.Column[object]]:
    return [
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("requester_id", sa.String(32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.String(32), nullable=False),
        _time("created_at"),
        *_place(),
        sa.Column("entry_point", sa.String(16), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("store_name", sa.Text(), nullable=True),
        sa.Column("diagnosis", sa.String(40), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("token_masked", sa.String(64), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checks"),
    )
    op.create_index("ix_checks_created_at", "checks", ["created_at"])
    op.create_index("ix_checks_store_id_created_at", "checks", ["store_id", "created_at"])
    op.create_index("ix_checks_requester_id_created_at", "checks", ["requester_id", "created_at"])

    op.create_table(
        "escalations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("check_id", sa.String(32), nullable=False),
        _time("created_at"),
        *_place(),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("diagnosis", sa.String(40), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("taken_by", sa.String(32), nullable=True),
        _time("taken_at", nullable=True),
        sa.Column("resolved_by", sa.String(32), nullable=True),
        _time("resolved_at", nullable=True),
        sa.Column("triage_channel", sa.String(32), nullable=True),
        sa.Column("triage_ts", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name="fk_escalations_check_id_checks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_escalations"),
    )
    op.create_index("ix_escalations_check_id", "escalations", ["check_id"])
    op.create_index("ix_escalations_state_created_at", "escalations", ["state", "created_at"])
    op.create_index("ix_escalations_store_id_created_at", "escalations", ["store_id", "created_at"])

    op.create_table(
        "stored_credentials",
        sa.Column("check_id", sa.String(32), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["checks.id"],
            name="fk_stored_credentials_check_id_checks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("check_id", name="pk_stored_credentials"),
    )
    op.create_index("ix_stored_credentials_expires_at", "stored_credentials", ["expires_at"])

    op.create_table(
        "seen_keys",
        sa.Column("key_hash", sa.String(64), nullable=False),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("key_hash", name="pk_seen_keys"),
    )
    op.create_index("ix_seen_keys_expires_at", "seen_keys", ["expires_at"])

    op.create_table(
        "token_cooldowns",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        _time("until"),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_token_cooldowns"),
    )
    op.create_index("ix_token_cooldowns_until", "token_cooldowns", ["until"])

    op.create_table(
        "failing_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_failing_requests"),
    )
    op.create_index("ix_failing_requests_at", "failing_requests", ["at"])


def downgrade() -> None:
    for table in (
        "failing_requests",
        "token_cooldowns",
        "seen_keys",
        "stored_credentials",
        "escalations",
        "checks",
    ):
        op.drop_table(table)
