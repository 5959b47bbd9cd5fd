"""Outgoing webhooks' tables: endpoints, a delivery per event and endpoint, an attempt per try."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin

DeliveryStatus = Literal["pending", "succeeded", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "succeeded", "failed")


class Webhook(IdMixin, TenantMixin, TimestampMixin, Base):
    """An endpoint (URL) subscribed to event types of the catalogue, with its signing secret."""

    __tablename__ = "webhooks"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # The signing secrets, encrypted at rest like provider credentials (Fernet tokens under
    # INTEGRATIONS_ENCRYPTION_KEYS, domain/integrations/crypto.py): the sender decrypts them
    # to sign. The clear secret appears in no answer but the one that creates or rotates it.
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    secret_rotated_at: Mapped[datetime | None]
    # When the current run of failed attempts began (None: the last attempt succeeded).
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(IdMixin, TenantMixin, TimestampMixin, Base):
    """One event (or test message) to one endpoint; the schedule is its due time."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_valid"),
        # One delivery per event and endpoint, however often the consumer reads the event.
        UniqueConstraint("webhook_id", "event_id"),
        # The dispatcher's claim: pending deliveries in due order.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # GET .../deliveries: an endpoint's deliveries, newest first.
        Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
        # Retention deletes finished deliveries by age.
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )

    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # The domain event delivered (None for a test message); events are purged on their own
    # schedule, so the body is kept here as sent.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(String(20), default="pending")
    # Attempts of the current schedule (a redelivery or a recovery starts a new one).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(IdMixin, TenantMixin, Base):
    """One try of a delivery: when, the answer's status and a short excerpt, or the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_delivery_id_attempted_at", "delivery_id", "attempted_at"),
        # The endpoint's recent success rate, and retention by age.
        Index("ix_webhook_attempts_webhook_id_attempted_at", "webhook_id", "attempted_at"),
        Index("ix_webhook_attempts_attempted_at", "attempted_at"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))
