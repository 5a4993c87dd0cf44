"""Single flight per token and exact budget reservations.

`token_flights` marks the one check of a token in flight in any process (leased) and then keeps
its verdict for the checks that waited on it; `failing_requests.reserved_until` tells a
reservation (settled by its own ID) from requests that really failed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_flights",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("flight", sa.String(32), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_token_flights"),
    )
    op.create_index("ix_token_flights_lease_until", "token_flights", ["lease_until"])
    with op.batch_alter_table("failing_requests") as batch:
        batch.add_column(sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_failing_requests_reserved_until", ["reserved_until"])


def downgrade() -> None:
    with op.batch_alter_table("failing_requests") as batch:
        batch.drop_index("ix_failing_requests_reserved_until")
        batch.drop_column("reserved_until")
    op.drop_index("ix_token_flights_lease_until", table_name="token_flights")
    op.drop_table("token_flights")
