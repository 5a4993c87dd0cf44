"""The journal keeps an answered check's ID and report until its history row is written.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pending_checks") as batch:
        batch.add_column(sa.Column("check_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
    op.create_index("ix_pending_checks_check_id", "pending_checks", ["check_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_checks_check_id", table_name="pending_checks")
    with op.batch_alter_table("pending_checks") as batch:
        batch.drop_column("report")
        batch.drop_column("check_id")
