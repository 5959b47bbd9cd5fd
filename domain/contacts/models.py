"""Leads and customers captured by funnels, one per (account, email)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
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
