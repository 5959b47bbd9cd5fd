"""split tests: ab_tests, ab_test_variants, and an index of exposures on analytics_events

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("goal_kind", sa.String(length=16), nullable=False),
        sa.Column("goal_step_id", sa.Uuid(), nullable=True),
        sa.Column("goal_event_types", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("goal_name", sa.String(length=100), nullable=True),
        sa.Column("winner_variant_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'completed')",
            name=op.f("ck_ab_tests_status_known"),
        ),
        sa.CheckConstraint(
            "goal_kind IN ('step', 'event')", name=op.f("ck_ab_tests_goal_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ab_tests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_ab_tests_funnel_id_funnels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_tests")),
    )
    op.create_index(op.f("ix_ab_tests_account_id"), "ab_tests", ["account_id"])
    op.create_index("ix_ab_tests_account_step", "ab_tests", ["account_id", "funnel_id", "step_id"])
    op.create_index(
        "uq_ab_tests_active_step",
        "ab_tests",
        ["step_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('running', 'paused')"),
    )
    op.create_table(
        "ab_test_variants",
        sa.Column("ab_test_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("page_id", sa.Uuid(), nullable=False),
        sa.Column("percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("page_version", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "percent >= 0 AND percent <= 100", name=op.f("ck_ab_test_variants_percent_range")
        ),
        sa.ForeignKeyConstraint(
            ["ab_test_id"],
            ["ab_tests.id"],
            name=op.f("fk_ab_test_variants_ab_test_id_ab_tests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ab_test_variants_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_test_variants")),
        sa.UniqueConstraint(
            "ab_test_id", "page_id", name=op.f("uq_ab_test_variants_ab_test_id_page_id")
        ),
        sa.UniqueConstraint(
            "ab_test_id", "position", name=op.f("uq_ab_test_variants_ab_test_id_position")
        ),
    )
    op.create_index(op.f("ix_ab_test_variants_account_id"), "ab_test_variants", ["account_id"])
    op.create_index(
        "ix_ab_test_variants_account_page", "ab_test_variants", ["account_id", "page_id"]
    )
    # On the partitioned parent: PostgreSQL builds it on every partition, and each new one.
    op.create_index(
        "ix_analytics_events_ab_test",
        "analytics_events",
        ["account_id", "ab_test_id", "visitor_ordinal", "occurred_at"],
        postgresql_where=sa.text("ab_test_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_events_ab_test", table_name="analytics_events")
    op.drop_table("ab_test_variants")
    op.drop_table("ab_tests")
