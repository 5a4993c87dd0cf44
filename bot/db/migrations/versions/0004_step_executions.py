"""Executions of the Workflow Builder step "Check Ecwid connection".

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_executions",
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("workflow_execution_id", sa.String(64), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("guide_channel", sa.String(32), nullable=True),
        sa.Column("guide_ts", sa.String(32), nullable=True),
        sa.Column("check_id", sa.String(32), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("answer_channel", sa.String(32), nullable=True),
        sa.Column("answer_ts", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", name="pk_step_executions"),
    )
    op.create_index("ix_step_executions_user_id_state", "step_executions", ["user_id", "state"])
    op.create_index(
        "ix_step_executions_state_updated_at", "step_executions", ["state", "updated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_step_executions_state_updated_at", table_name="step_executions")
    op.drop_index("ix_step_executions_user_id_state", table_name="step_executions")
    op.drop_table("step_executions")
