"""Timed work: follow-ups, watches and reminders as rows with a due time, leased while they run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timed_work",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timed_work"),
        sa.UniqueConstraint("key", name="uq_timed_work_key"),
    )
    op.create_index("ix_timed_work_subject", "timed_work", ["subject"])
    op.create_index("ix_timed_work_state_due_at", "timed_work", ["state", "due_at"])
    op.create_index("ix_timed_work_state_lease_until", "timed_work", ["state", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_timed_work_state_lease_until", table_name="timed_work")
    op.drop_index("ix_timed_work_state_due_at", table_name="timed_work")
    op.drop_index("ix_timed_work_subject", table_name="timed_work")
    op.drop_table("timed_work")
