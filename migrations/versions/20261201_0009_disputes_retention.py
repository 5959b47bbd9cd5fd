"""disputes, and indexes for retention (published outbox, Stripe inbox, tokens, keys)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPUTE_STATUSES = (
    "'warning_needs_response', 'warning_under_review', 'needs_response', 'under_review', "
    "'won', 'lost', 'warning_closed', 'prevented'"
)


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_disputes_amount_non_negative")),
        sa.CheckConstraint(f"status IN ({DISPUTE_STATUSES})", name=op.f("ck_disputes_status_known")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_disputes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["order_charges.id"],
            name=op.f("fk_disputes_charge_id_order_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_disputes_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("stripe_dispute_id", name=op.f("uq_disputes_stripe_dispute_id")),
    )
    op.create_index(op.f("ix_disputes_account_id"), "disputes", ["account_id"])
    op.create_index("ix_disputes_account_id_closed_at", "disputes", ["account_id", "closed_at"])
    op.create_index(op.f("ix_disputes_charge_id"), "disputes", ["charge_id"])
    op.create_index(op.f("ix_disputes_order_id"), "disputes", ["order_id"])

    op.create_index(
        "ix_outbox_messages_published_at",
        "outbox_messages",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )
    op.create_index("ix_stripe_events_received_at", "stripe_events", ["received_at"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_index("ix_refresh_tokens_expires_at", table_name="refresh_tokens")
    op.drop_index("ix_stripe_events_received_at", table_name="stripe_events")
    op.drop_index("ix_outbox_messages_published_at", table_name="outbox_messages")
    op.drop_index(op.f("ix_disputes_order_id"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_charge_id"), table_name="disputes")
    op.drop_index("ix_disputes_account_id_closed_at", table_name="disputes")
    op.drop_index(op.f("ix_disputes_account_id"), table_name="disputes")
    op.drop_table("disputes")
