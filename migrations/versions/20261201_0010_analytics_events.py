"""analytics events (partitioned by month), visitor ordinals, consent, checkout visitors

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "XID8"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE analytics_events_seq AS bigint")
    op.create_table(
        "analytics_events",
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('analytics_events_seq')"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tx_id", Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column(
            "source", sa.String(length=16), server_default=sa.text("'client'"), nullable=False
        ),
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=True),
        sa.Column("page_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("visitor_ordinal", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("ab_test_id", sa.Uuid(), nullable=True),
        sa.Column("variant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", "occurred_at", name=op.f("pk_analytics_events")),
        sa.UniqueConstraint(
            "account_id",
            "event_id",
            "occurred_at",
            name=op.f("uq_analytics_events_account_id_event_id_occurred_at"),
        ),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.execute("ALTER SEQUENCE analytics_events_seq OWNED BY analytics_events.seq")
    op.create_index(
        "ix_analytics_events_funnel_time",
        "analytics_events",
        ["account_id", "funnel_id", "occurred_at"],
    )
    op.create_index("ix_analytics_events_tx", "analytics_events", ["tx_id", "seq"])
    # Rows for months beat has not made a partition for yet land here, so no insert fails.
    op.execute("CREATE TABLE analytics_events_default PARTITION OF analytics_events DEFAULT")
    op.create_table(
        "analytics_visitors",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("ordinal", sa.BigInteger(), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("account_id", "visitor_id", name=op.f("pk_analytics_visitors")),
        sa.UniqueConstraint(
            "account_id", "ordinal", name=op.f("uq_analytics_visitors_account_id_ordinal")
        ),
    )
    op.add_column(
        "contacts",
        sa.Column("marketing_consent", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("contacts", sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contacts", sa.Column("consent_source", sa.String(length=100), nullable=True))
    op.add_column("contacts", sa.Column("visitor_id", sa.String(length=64), nullable=True))
    op.add_column("orders", sa.Column("visitor_id", sa.String(length=64), nullable=True))
    op.add_column("orders", sa.Column("session_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "session_id")
    op.drop_column("orders", "visitor_id")
    for column in ("visitor_id", "consent_source", "consent_at", "marketing_consent"):
        op.drop_column("contacts", column)
    op.drop_table("analytics_visitors")
    # Dropping the parent drops every partition, the default and beat's monthly ones.
    op.drop_table("analytics_events")
