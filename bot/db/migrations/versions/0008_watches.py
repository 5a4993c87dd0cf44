"""Watches: a connected store checked every day until its migration, then a reminder to revoke.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("requester_id", sa.String(32), nullable=False),
        sa.Column("watcher_id", sa.String(32), nullable=False),
        sa.Column("check_id", sa.String(32), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("migration_date", sa.Date(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ok", sa.Boolean(), nullable=False),
        sa.Column("last_diagnosis", sa.String(40), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("sealed_paste", sa.LargeBinary(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_watches"),
    )
    op.create_index("ix_watches_store_id", "watches", ["store_id"])
    op.create_index("ix_watches_state_requester_id", "watches", ["state", "requester_id"])


def downgrade() -> None:
    op.drop_index("ix_watches_state_requester_id", table_name="watches")
    op.drop_index("ix_watches_store_id", table_name="watches")
    op.drop_table("watches")
