"""Tables of orders and payments: orders, what they hold, the charges behind them, refunds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin, utcnow

OrderStatus = Literal[
    "awaiting_payment", "processing", "paid", "payment_failed", "cancelled", "fulfilled"
]
PaymentStatus = Literal["unpaid", "paid", "partially_refunded", "refunded", "failed"]
ChargeKind = Literal["main", "upsell"]
ChargeStatus = Literal[
    "pending", "processing", "succeeded", "failed", "requires_action", "cancelled"
]
UpsellDecision = Literal["accepted", "declined"]
RefundStatus = Literal["pending", "succeeded", "failed"]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrderCounter(Base):
    """The last order number of an account: numbers are taken under its row lock, so no gaps."""

    __tablename__ = "order_counters"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Order(IdMixin, TenantMixin, TimestampMixin, Base):
    """One checkout: its customer, what it costs, and where its payment stands."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        CheckConstraint(_in("status", get_args(OrderStatus)), name="status_known"),
        CheckConstraint(
            _in("payment_status", get_args(PaymentStatus)), name="payment_status_known"
        ),
        CheckConstraint("total_cents >= 0", name="total_non_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        Index("ix_orders_account_id_created_at", "account_id", "created_at"),
        # Analytics and the paid-orders reports read orders by the day they were paid.
        Index("ix_orders_account_id_paid_at", "account_id", "paid_at"),
        # The expiry sweep reads unpaid orders by when they are due to be cancelled.
        Index(
            "ix_orders_expires_at",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )

    number: Mapped[int] = mapped_column(BigInteger)
    funnel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("funnels.id", ondelete="SET NULL"), index=True
    )
    step_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    # The checkout's visitor and session, so the purchase counts for the views that led to it.
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="awaiting_payment")
    payment_status: Mapped[str] = mapped_column(String(20), default="unpaid")
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    customer_email: Mapped[str] = mapped_column(String(320))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    billing_address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The secret a checkout page holds to act on its own order (stored as a SHA-256 hash).
    customer_token_hash: Mapped[str] = mapped_column(String(64))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(255))
    paid_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    # When the expiry sweep cancels the order if it is still unpaid; NULL once it is settled
    # or while a cancellation is under way.
    expires_at: Mapped[datetime | None]


class OrderItem(IdMixin, TenantMixin, Base):
    """A line of an order, priced from the catalogue when it was added."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="unit_price_non_negative"),
        CheckConstraint("kind IN ('main', 'bump', 'upsell')", name="kind_known"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class OrderBump(IdMixin, TenantMixin, Base):
    """An order bump taken with the main charge (added while it was still unconfirmed)."""

    __tablename__ = "order_bumps"
    __table_args__ = (UniqueConstraint("order_id", "product_id"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class OrderCharge(IdMixin, TenantMixin, TimestampMixin, Base):
    """One PaymentIntent of an order (the main one, or an upsell's) and what it captured.

    refunded_cents counts refunds as soon as they are asked for; the CHECK keeps the sum
    within what was captured, so concurrent refund requests cannot overdraw a charge.
    """

    __tablename__ = "order_charges"
    __table_args__ = (
        UniqueConstraint("stripe_payment_intent_id"),
        CheckConstraint(_in("kind", get_args(ChargeKind)), name="kind_known"),
        CheckConstraint(_in("status", get_args(ChargeStatus)), name="status_known"),
        CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
        CheckConstraint("captured_cents >= 0", name="captured_non_negative"),
        CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= captured_cents",
            name="refunds_within_captured",
        ),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    captured_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(100))


class OrderUpsell(IdMixin, TenantMixin, TimestampMixin, Base):
    """A one-click offer shown after checkout: declined, or accepted and charged on its own."""

    __tablename__ = "order_upsells"
    __table_args__ = (
        UniqueConstraint("order_id", "step_id"),
        CheckConstraint(_in("decision", get_args(UpsellDecision)), name="decision_known"),
        CheckConstraint("offer_type IN ('upsell', 'downsell')", name="offer_type_known"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[uuid.UUID]
    offer_type: Mapped[str] = mapped_column(String(10))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    decision: Mapped[str] = mapped_column(String(10))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    charge_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("order_charges.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None]


class Refund(IdMixin, TenantMixin, TimestampMixin, Base):
    """Money given back from one charge, executed by a worker."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(_in("status", get_args(RefundStatus)), name="status_known"),
        UniqueConstraint("stripe_refund_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    charge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_charges.id", ondelete="CASCADE"), index=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None]


class StripeEvent(Base):
    """The inbox of Stripe webhook events: each stored once by its id, applied once."""

    __tablename__ = "stripe_events"
    # Retention deletes events by age (domain/shared/retention.py).
    __table_args__ = (Index("ix_stripe_events_received_at", "received_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    processed_at: Mapped[datetime | None]


# Stripe's dispute statuses; the last four are final (a closed dispute never reopens).
DisputeStatus = Literal[
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "warning_closed",
    "prevented",
]
DISPUTE_CLOSED_STATUSES: tuple[DisputeStatus, ...] = ("won", "lost", "warning_closed", "prevented")


class Dispute(IdMixin, TenantMixin, TimestampMixin, Base):
    """A card holder's dispute of one of our charges, as Stripe's events told it.

    last_event_at is the Stripe time of the newest event applied, so an older event that
    arrives late cannot move the dispute backwards.
    """

    __tablename__ = "disputes"
    __table_args__ = (
        UniqueConstraint("stripe_dispute_id"),
        CheckConstraint(_in("status", get_args(DisputeStatus)), name="status_known"),
        CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
        # Analytics counts lost disputes by the day they closed.
        Index("ix_disputes_account_id_closed_at", "account_id", "closed_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    charge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_charges.id", ondelete="CASCADE"), index=True
    )
    stripe_dispute_id: Mapped[str] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[DisputeStatus] = mapped_column(String(30))
    last_event_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
