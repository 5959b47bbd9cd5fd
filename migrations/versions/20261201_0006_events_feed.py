"""events feed: the recording transaction on each event, consumer cursors, retention deletes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import UserDefinedType

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class _Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "XID8"


def upgrade() -> None:
    # Existing events all committed long ago: they get transaction 0 (read first, by id),
    # a constant default that needs no table rewrite; new rows get their own transaction's.
    op.add_column(
        "domain_events",
        sa.Column("tx_id", _Xid8(), server_default=sa.text("'0'::xid8"), nullable=False),
    )
    op.alter_column("domain_events", "tx_id", server_default=sa.text("pg_current_xact_id()"))
    op.create_index("ix_domain_events_tx_id_id", "domain_events", ["tx_id", "id"])
    op.create_index(
        "ix_domain_events_occurred_at", "domain_events", ["occurred_at"], postgresql_using="brin"
    )
    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_tx_id", _Xid8(), server_default=sa.text("'0'::xid8"), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )
    # Still append-only, except for the retention purge, which says so for its transaction.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION domain_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE'
                AND current_setting('funnels.events_retention', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'domain_events is append-only';
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION domain_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'domain_events is append-only';
        END $$;
        """
    )
    op.drop_table("event_consumers")
    op.drop_index("ix_domain_events_occurred_at", table_name="domain_events")
    op.drop_index("ix_domain_events_tx_id_id", table_name="domain_events")
    op.drop_column("domain_events", "tx_id")
