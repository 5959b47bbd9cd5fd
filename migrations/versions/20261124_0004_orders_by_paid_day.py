"""orders by paid day: an index for analytics and paid-order reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:19:12.240356
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_account_id_paid_at", "orders", ["account_id", "paid_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_account_id_paid_at", table_name="orders")
