"""Escalations get a response clock and the customer's feedback; checks an index for the team's
numbers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_by", sa.String(32), nullable=True),
        sa.Column("response_s", sa.Float(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("owner_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_s", sa.Float(), nullable=True),
        sa.Column("feedback", sa.String(16), nullable=True),
        sa.Column("feedback_by", sa.String(32), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopenings", sa.Integer(), nullable=False, server_default="0"),
    ]


_INDEXES = (
    ("ix_escalations_state_response_due_at", ["state", "response_due_at"]),
    ("ix_escalations_responded_at_response_s", ["responded_at", "response_s"]),
    ("ix_escalations_resolved_at_resolution_s", ["resolved_at", "resolution_s"]),
    ("ix_escalations_feedback_at_feedback", ["feedback_at", "feedback"]),
    ("ix_escalations_channel_id_thread_ts", ["channel_id", "thread_ts"]),
)


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        for column in _columns():
            batch.add_column(column)
    # Escalations from before have no clock: it started when they were opened, and nothing is
    # due for them any more (no reminder for the past).
    op.execute("UPDATE escalations SET opened_at = created_at")
    for name, columns in _INDEXES:
        op.create_index(name, "escalations", columns)
    op.create_index("ix_checks_diagnosis_created_at", "checks", ["diagnosis", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_checks_diagnosis_created_at", table_name="checks")
    for name, _fields in _INDEXES:
        op.drop_index(name, table_name="escalations")
    with op.batch_alter_table("escalations") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
