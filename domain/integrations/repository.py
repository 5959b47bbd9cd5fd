"""Every query of the email-provider integrations."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.integrations.models import Integration, IntegrationContact, IntegrationSyncLog
from domain.shared.db import paginate
from domain.shared.schemas import PageParams


def get(session: Session, account_id: uuid.UUID, integration_id: uuid.UUID) -> Integration | None:
    """One of the account's integrations."""
    return session.scalar(
        select(Integration).where(
            Integration.id == integration_id, Integration.account_id == account_id
        )
    )


def lock(session: Session, integration_id: uuid.UUID) -> Integration | None:
    """An integration locked for a change made by a job."""
    return session.get(Integration, integration_id, with_for_update=True)


def list_integrations(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[list[Integration], int]:
    """The account's integrations, oldest first."""
    stmt = (
        select(Integration)
        .where(Integration.account_id == account_id)
        .order_by(Integration.created_at, Integration.id)
    )
    return paginate(session, stmt, page)


def of_account(
    session: Session, account_id: uuid.UUID, *, auto_sync_only: bool = False
) -> list[Integration]:
    """Every integration of the account (only enabled ones set to push as things happen)."""
    stmt = select(Integration).where(Integration.account_id == account_id)
    if auto_sync_only:
        stmt = stmt.where(
            Integration.enabled.is_(True),
            Integration.status != "failed",
            Integration.settings["auto_sync"].as_boolean().is_not(False),
        )
    return list(session.scalars(stmt.order_by(Integration.created_at)))


def all_ids(session: Session) -> list[uuid.UUID]:
    """Every integration's id (key rotation)."""
    return list(session.scalars(select(Integration.id)))


def synced_versions(
    session: Session, integration_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """The version of each of these contacts last pushed (or refused) at the integration."""
    if not contact_ids:
        return {}
    rows = session.execute(
        select(IntegrationContact.contact_id, IntegrationContact.synced_version).where(
            IntegrationContact.integration_id == integration_id,
            IntegrationContact.contact_id.in_(list(contact_ids)),
        )
    )
    return {contact_id: version for contact_id, version in rows}


def record_contacts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert the contacts' sync state (one row per integration and contact)."""
    if not rows:
        return
    stmt = insert(IntegrationContact).values(list(rows))
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["integration_id", "contact_id"],
            set_={
                "synced_version": stmt.excluded.synced_version,
                "status": stmt.excluded.status,
                "error": stmt.excluded.error,
                "pushed_at": stmt.excluded.pushed_at,
            },
        )
    )


def forget_contacts(session: Session, integration_id: uuid.UUID) -> None:
    """Forget what was pushed (new credentials or list: everyone goes again)."""
    session.execute(
        delete(IntegrationContact).where(IntegrationContact.integration_id == integration_id)
    )


def sync_logs(
    session: Session, account_id: uuid.UUID, integration_id: uuid.UUID, page: PageParams
) -> tuple[list[IntegrationSyncLog], int]:
    """An integration's sync logs, newest first."""
    stmt = (
        select(IntegrationSyncLog)
        .where(
            IntegrationSyncLog.account_id == account_id,
            IntegrationSyncLog.integration_id == integration_id,
        )
        .order_by(IntegrationSyncLog.started_at.desc(), IntegrationSyncLog.id)
    )
    return paginate(session, stmt, page)
