"""Secrets spotted in channel messages, held encrypted for a few minutes.

`held_pastes` keeps what the leak guard found in a message, Fernet-encrypted under
CREDENTIALS_KEY, for the author's private check from the warning; the warning's button carries
only the row's opaque ID.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "held_pastes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_held_pastes"),
    )
    op.create_index("ix_held_pastes_expires_at", "held_pastes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_held_pastes_expires_at", table_name="held_pastes")
    op.drop_table("held_pastes")
