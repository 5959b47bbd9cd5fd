"""Domain events: an append-only table written in the same transaction as the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.shared.db import Base, TenantMixin, utcnow


class DomainEvent(TenantMixin, Base):
    """Something that happened (order.paid, contact.created, ...); never updated or deleted."""

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_account_id_type", "account_id", "type"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]


def record(
    session: Session,
    *,
    account_id: uuid.UUID,
    type: str,
    payload: dict[str, Any],
    subject_id: uuid.UUID | None = None,
) -> DomainEvent:
    """Append an event to the caller's transaction."""
    event = DomainEvent(
        account_id=account_id,
        type=type,
        subject_id=subject_id,
        payload=payload,
        occurred_at=utcnow(),
    )
    session.add(event)
    return event
