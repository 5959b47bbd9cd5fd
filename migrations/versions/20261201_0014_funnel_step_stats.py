"""funnel_step_stats, the rollup's per-account zone and its cursor, a session index on events

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import UserDefinedType

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "XID8"


_COUNTS = (
    "views",
    "unique_visitors",
    "entries",
    "exits",
    "optins",
    "checkouts",
    "purchases",
    "conversions",
    "upsells_accepted",
    "upsells_declined",
    "bump_purchases",
    "revenue_cents",
)


def upgrade() -> None:
    op.create_table(
        "funnel_step_stats",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for name in _COUNTS[:2]
        ),
        sa.Column("visitors", sa.LargeBinary(), nullable=True),
        *(
            sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for name in _COUNTS[2:]
        ),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id",
            "funnel_id",
            "step_id",
            "day",
            "currency",
            name=op.f("pk_funnel_step_stats"),
        ),
    )
    op.create_table(
        "analytics_rollup_state",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("zone_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_analytics_rollup_state")),
    )
    op.create_table(
        "analytics_rollup_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_tx_id", Xid8(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("fresh_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_rollup_cursor")),
    )
    op.create_index(
        "ix_analytics_events_session",
        "analytics_events",
        ["account_id", "funnel_id", "session_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_events_session", table_name="analytics_events")
    op.drop_table("analytics_rollup_cursor")
    op.drop_table("analytics_rollup_state")
    op.drop_table("funnel_step_stats")
