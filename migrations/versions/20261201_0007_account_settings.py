"""account settings (time zone, tracking consent, edit version); jobs listed per account

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column(
        "accounts",
        sa.Column(
            "require_tracking_consent", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "accounts", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_index("ix_jobs_account_id_created_at", "jobs", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_account_id_created_at", table_name="jobs")
    op.drop_column("accounts", "version")
    op.drop_column("accounts", "require_tracking_consent")
    op.drop_column("accounts", "timezone")
