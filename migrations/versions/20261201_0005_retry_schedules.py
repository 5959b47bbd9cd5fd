"""retry schedules: job waits and next attempt, unpaid orders' expiry

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("waits", sa.Integer(), server_default="0", nullable=False))
    op.add_column("jobs", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("orders", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_orders_expires_at",
        "orders",
        ["expires_at"],
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    # Orders open before this revision get the default timeout from their creation.
    op.execute(
        "UPDATE orders SET expires_at = created_at + interval '120 minutes' "
        "WHERE status IN ('awaiting_payment', 'processing', 'payment_failed')"
    )


def downgrade() -> None:
    op.drop_index("ix_orders_expires_at", table_name="orders")
    op.drop_column("orders", "expires_at")
    op.drop_column("jobs", "next_attempt_at")
    op.drop_column("jobs", "waits")
