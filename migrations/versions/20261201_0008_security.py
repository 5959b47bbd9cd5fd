"""security: idempotency keys scoped to the kind of caller as well as the account

The merchant's users and API keys share one key space, anonymous publishable-key callers
another. Keys stored before this revision (kept 24 hours) count as the merchant's.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=16), nullable=False, server_default="merchant"),
    )
    op.alter_column("idempotency_keys", "scope", server_default=None)
    op.drop_constraint("uq_idempotency_keys_account_id_key", "idempotency_keys", type_="unique")
    op.create_unique_constraint(
        "uq_idempotency_keys_account_id_scope_key",
        "idempotency_keys",
        ["account_id", "scope", "key"],
    )


def downgrade() -> None:
    # Two scopes may hold the same key now: keep the merchant's where both do.
    op.execute(
        "DELETE FROM idempotency_keys p USING idempotency_keys m "
        "WHERE p.scope = 'public' AND m.scope = 'merchant' "
        "AND p.account_id = m.account_id AND p.key = m.key"
    )
    op.drop_constraint(
        "uq_idempotency_keys_account_id_scope_key", "idempotency_keys", type_="unique"
    )
    op.create_unique_constraint(
        "uq_idempotency_keys_account_id_key", "idempotency_keys", ["account_id", "key"]
    )
    op.drop_column("idempotency_keys", "scope")
