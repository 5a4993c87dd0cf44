"""Follow-ups: a store the bot keeps checking on its own until it connects.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("requester_id", sa.String(32), nullable=False),
        sa.Column("entry_point", sa.String(16), nullable=False),
        sa.Column("check_id", sa.String(32), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("token_masked", sa.String(64), nullable=True),
        sa.Column("diagnosis", sa.String(40), nullable=False),
        sa.Column("last_diagnosis", sa.String(40), nullable=False),
        sa.Column("rechecks", sa.Integer(), nullable=False),
        sa.Column("sealed_paste", sa.LargeBinary(), nullable=True),
        sa.Column("stopped_by", sa.String(32), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_follow_ups"),
    )
    op.create_index("ix_follow_ups_state_requester_id", "follow_ups", ["state", "requester_id"])
    op.create_index("ix_follow_ups_store_id_created_at", "follow_ups", ["store_id", "created_at"])
    op.create_index("ix_follow_ups_channel_id_thread_ts", "follow_ups", ["channel_id", "thread_ts"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_channel_id_thread_ts", table_name="follow_ups")
    op.drop_index("ix_follow_ups_store_id_created_at", table_name="follow_ups")
    op.drop_index("ix_follow_ups_state_requester_id", table_name="follow_ups")
    op.drop_table("follow_ups")
