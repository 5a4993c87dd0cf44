"""The check journal: every accepted check until its answer is delivered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_checks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("destination", sa.JSON(), nullable=False),
        sa.Column("view_id", sa.String(64), nullable=True),
        sa.Column("sealed_paste", sa.LargeBinary(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pending_checks"),
    )
    op.create_index(
        "ix_pending_checks_state_lease_until", "pending_checks", ["state", "lease_until"]
    )


def downgrade() -> None:
    op.drop_index("ix_pending_checks_state_lease_until", table_name="pending_checks")
    op.drop_table("pending_checks")
