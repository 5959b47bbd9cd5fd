"""Leads and customers captured by funnels, one per (account, email)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin


class Contact(IdMixin, TenantMixin, TimestampMixin, Base):
    """A person known to an account by their email."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("account_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_seen_at: Mapped[datetime | None]
    # Marketing consent: only consenting contacts go to marketing lists (docs/integrations.md).
    marketing_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    consent_at: Mapped[datetime | None]
    consent_source: Mapped[str | None] = mapped_column(String(100))
    # The visitor cookie the contact was captured with: links the person to their
    # analytics events (cleared on erasure).
    visitor_id: Mapped[str | None] = mapped_column(String(64))
