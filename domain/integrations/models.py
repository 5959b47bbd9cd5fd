"""Email-provider integrations: the connection, what each sync did, each contact's sync state.

Outgoing webhooks keep their own tables (domain/integrations/webhooks/).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin, utcnow

Provider = Literal["mailchimp", "sendgrid", "activecampaign"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
# untested: connected, never checked; failed: the last test or sync was refused (reason kept)
IntegrationStatus = Literal["untested", "connected", "failed"]
SyncStatus = Literal["succeeded", "partial", "failed"]
ContactSyncStatus = Literal["pushed", "failed"]


class Integration(IdMixin, TenantMixin, TimestampMixin, Base):
    """One account's connection to an email provider."""

    __tablename__ = "integrations"
    __table_args__ = (
        CheckConstraint(f"provider IN {PROVIDERS!r}", name="provider_known"),
        CheckConstraint("status IN ('untested', 'connected', 'failed')", name="status_known"),
    )

    provider: Mapped[Provider] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # Fernet token of the credentials' JSON (domain/integrations/crypto.py); never shown back.
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # list_id, tags, field_mapping, ... (the provider's settings model in schemas.py)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    status: Mapped[IntegrationStatus] = mapped_column(String(20), default="untested")
    status_reason: Mapped[str | None] = mapped_column(Text)
    last_tested_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    # Contacts changed before this (less a margin for late commits) were all looked at by a
    # sync that finished: the next sync starts from here.
    synced_through: Mapped[datetime | None]


class IntegrationSyncLog(IdMixin, TenantMixin, Base):
    """What one sync run did: counts, per-contact errors, and why it stopped."""

    __tablename__ = "integration_sync_logs"
    __table_args__ = (
        Index("ix_integration_sync_logs_integration_id_started_at", "integration_id", "started_at"),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE")
    )
    job_id: Mapped[uuid.UUID | None]
    trigger: Mapped[str] = mapped_column(String(20))  # manual | event
    status: Mapped[SyncStatus] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # retention
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    candidates: Mapped[int] = mapped_column(default=0)
    pushed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    left_for_retry: Mapped[int] = mapped_column(default=0)
    # [{"contact_id", "error"}]: contact ids, never addresses (logs outlive erasures)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)


class IntegrationContact(TenantMixin, Base):
    """The version of a contact last pushed to an integration (nothing is pushed twice)."""

    __tablename__ = "integration_contacts"

    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # the contact's updated_at when pushed: a later change makes it a candidate again
    synced_version: Mapped[datetime]
    status: Mapped[ContactSyncStatus] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text)
    pushed_at: Mapped[datetime] = mapped_column(default=utcnow)
