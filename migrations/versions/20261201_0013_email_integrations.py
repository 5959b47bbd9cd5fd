"""email-provider integrations: connections (credentials encrypted), sync logs, sync state;
domain_events updatable only to erase an address

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts", ondelete="CASCADE"
    )


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"],
        ["integrations.id"],
        name=f"fk_{table}_integration_id_integrations",
        ondelete="CASCADE",
    )


# domain_events stays append-only, except for the retention purge (0006) and, from here, the
# erasure of a person's address from the events about them (domain/privacy).
APPEND_ONLY_WITH_ERASURE = """
CREATE OR REPLACE FUNCTION domain_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND current_setting('funnels.events_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
        AND current_setting('funnels.events_erasure', true) = 'on'
        AND NEW.id = OLD.id AND NEW.type = OLD.type AND NEW.tx_id = OLD.tx_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'domain_events is append-only';
END $$;
"""
APPEND_ONLY_0006 = """
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


def upgrade() -> None:
    op.execute(APPEND_ONLY_WITH_ERASURE)
    op.create_table(
        "integrations",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("last_tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "provider IN ('mailchimp', 'sendgrid', 'activecampaign')",
            name="ck_integrations_provider_known",
        ),
        sa.CheckConstraint(
            "status IN ('untested', 'connected', 'failed')", name="ck_integrations_status_known"
        ),
        _account_fk("integrations"),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
    )
    op.create_index("ix_integrations_account_id", "integrations", ["account_id"])

    op.create_table(
        "integration_sync_logs",
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("left_for_retry", sa.Integer(), nullable=False),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        _account_fk("integration_sync_logs"),
        _integration_fk("integration_sync_logs"),
        sa.PrimaryKeyConstraint("id", name="pk_integration_sync_logs"),
    )
    op.create_index("ix_integration_sync_logs_account_id", "integration_sync_logs", ["account_id"])
    op.create_index(
        "ix_integration_sync_logs_integration_id_started_at",
        "integration_sync_logs",
        ["integration_id", "started_at"],
    )
    op.create_index("ix_integration_sync_logs_started_at", "integration_sync_logs", ["started_at"])

    op.create_table(
        "integration_contacts",
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("synced_version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        _account_fk("integration_contacts"),
        _integration_fk("integration_contacts"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_integration_contacts_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("integration_id", "contact_id", name="pk_integration_contacts"),
    )
    op.create_index("ix_integration_contacts_account_id", "integration_contacts", ["account_id"])
    op.create_index("ix_integration_contacts_contact_id", "integration_contacts", ["contact_id"])


def downgrade() -> None:
    op.execute(APPEND_ONLY_0006)
    op.drop_table("integration_contacts")
    op.drop_table("integration_sync_logs")
    op.drop_table("integrations")
