"""The orders context's events: its facts about orders, upsells, refunds and disputes.

Money is integer cents with an ISO currency code; ids are our own uuids unless a field
says otherwise. The catalogue (domain/events/catalogue.py) registers EVENT_TYPES.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from domain.orders.models import Order
from domain.shared import events
from domain.shared.events import EventPayload, EventType
from domain.shared.schemas import Cents, Currency

OfferType = Literal["upsell", "downsell"]


class CheckoutVisitor(EventPayload):
    """The visitor whose views led to the order, so analytics attributes its money."""

    visitor_id: str | None = Field(
        default=None, description="the checkout's visitor (analytics attribution), if sent"
    )
    session_id: str | None = Field(default=None, description="the checkout's session, if sent")


class OrderFacts(CheckoutVisitor):
    """What every order event says about its order."""

    order_id: uuid.UUID = Field(description="the order (GET /api/v1/orders/{id})")
    number: int = Field(description="the order's number within its account")
    funnel_id: uuid.UUID | None = Field(description="the funnel the order came from")
    contact_id: uuid.UUID | None = Field(description="the buyer's contact")


class OrderRef(CheckoutVisitor):
    """Events recorded about an order by code that may not have the order loaded."""

    order_id: uuid.UUID = Field(description="the order (GET /api/v1/orders/{id})")
    number: int | None = Field(default=None, description="the order's number, when known")
    funnel_id: uuid.UUID | None = Field(default=None, description="the order's funnel, when known")
    contact_id: uuid.UUID | None = Field(default=None, description="the buyer, when known")


class OrderCreated(OrderFacts):
    """order.created"""

    total_cents: Cents
    currency: Currency


class OrderPaid(OrderFacts):
    """order.paid"""

    step_id: uuid.UUID | None = Field(description="the order-form step that took the order")
    amount_cents: Cents = Field(description="what the main charge captured")
    currency: Currency
    bump_count: int = Field(
        default=0, ge=0, description="order bumps the order had when it was paid"
    )


class OrderPaymentFailed(OrderFacts):
    """order.payment_failed"""

    reason: str = Field(description="Stripe's failure code, e.g. card_declined")


class OrderCancelled(OrderFacts):
    """order.cancelled"""

    reason: Literal["requested", "expired", "canceled_at_stripe"] = Field(
        description="`requested` by the merchant (POST /orders/{id}/cancel), `expired`: "
        "unpaid past ORDER_PAYMENT_TIMEOUT_MINUTES, or `canceled_at_stripe` (e.g. in the "
        "Dashboard)"
    )


class OrderFulfilled(OrderFacts):
    """order.fulfilled"""


class OrderRefunded(OrderFacts):
    """order.refunded"""

    refund_id: uuid.UUID = Field(description="the refund (GET /api/v1/orders/{id}/refunds)")
    charge_id: uuid.UUID = Field(description="the order's charge (ours) the refund was for")
    amount_cents: Cents = Field(description="what was given back")
    currency: Currency


class OrderBumpAdded(OrderFacts):
    """order.bump_added"""

    product_id: uuid.UUID = Field(description="the bump's product")
    price_cents: Cents = Field(description="the bump's price")
    total_cents: Cents = Field(description="the order's new total")


class UpsellFacts(OrderFacts):
    """What every upsell event says about the offer."""

    upsell_id: uuid.UUID = Field(description="the buyer's answer to the offer")
    step_id: uuid.UUID = Field(description="the upsell or downsell step answered")
    offer_type: OfferType
    product_id: uuid.UUID = Field(description="the offered product")
    price_cents: Cents = Field(description="the offer's price")


class UpsellAccepted(UpsellFacts):
    """upsell.accepted"""

    amount_cents: Cents = Field(description="what the off-session charge captured")
    currency: Currency


class UpsellDeclined(UpsellFacts):
    """upsell.declined"""


class UpsellPaymentFailed(UpsellFacts):
    """upsell.payment_failed"""

    reason: str | None = Field(
        default=None,
        description="the decline code; absent when the charge was cancelled unpaid",
    )


class RefundFailed(OrderRef):
    """refund.failed"""

    refund_id: uuid.UUID = Field(description="the refund (GET /api/v1/orders/{id}/refunds)")
    charge_id: uuid.UUID = Field(description="the order's charge (ours) the refund was for")
    amount_cents: Cents = Field(description="the amount, refundable again")
    currency: Currency
    reason: str = Field(description="why it failed, e.g. Stripe's failure reason")


class ChargeDispute(OrderRef):
    """charge.dispute_created, charge.dispute_closed"""

    charge_id: uuid.UUID = Field(description="the order's charge (ours) disputed")
    dispute_id: str = Field(description="Stripe's dispute id (dp_...)")
    amount_cents: Cents = Field(description="the disputed amount")
    currency: Currency
    reason: str = Field(description="Stripe's dispute reason, e.g. fraudulent")
    status: str = Field(description="Stripe's dispute status, e.g. needs_response, won, lost")


def _order(name: str, fires: str, payload: type[EventPayload]) -> EventType:
    """A catalogue entry of the orders context."""
    return EventType(name=name, fires=fires, payload=payload, context="orders")


EVENT_TYPES = (
    _order(
        "order.created",
        "A buyer placed an order against a PaymentIntent; it awaits payment.",
        OrderCreated,
    ),
    _order("order.paid", "The order's main charge succeeded.", OrderPaid),
    _order(
        "order.payment_failed",
        "The buyer's payment was declined; the order stays open to another card.",
        OrderPaymentFailed,
    ),
    _order(
        "order.cancelled", "An unpaid order was cancelled with its PaymentIntent.", OrderCancelled
    ),
    _order("order.fulfilled", "The merchant marked a paid order fulfilled.", OrderFulfilled),
    _order("order.refunded", "A refund of one of the order's charges succeeded.", OrderRefunded),
    _order(
        "order.bump_added",
        "The buyer added an order bump before confirming the payment.",
        OrderBumpAdded,
    ),
    _order(
        "upsell.accepted",
        "An accepted upsell or downsell was charged on the saved card.",
        UpsellAccepted,
    ),
    _order("upsell.declined", "The buyer declined an upsell or downsell.", UpsellDeclined),
    _order(
        "upsell.payment_failed",
        "An accepted offer could not be charged (declined, needs authentication, or the "
        "order ended unpaid).",
        UpsellPaymentFailed,
    ),
    _order(
        "refund.failed",
        "A refund ended failed (Stripe refused it or its retries ran out); its amount is "
        "refundable again.",
        RefundFailed,
    ),
    _order(
        "charge.dispute_created",
        "The buyer's bank opened a dispute (chargeback) on one of the order's charges.",
        ChargeDispute,
    ),
    _order(
        "charge.dispute_closed",
        "A dispute on one of the order's charges was closed (won, lost or withdrawn).",
        ChargeDispute,
    ),
)


def order_event(session: Session, order: Order, type_: str, **extra: Any) -> None:
    """A domain event about an order; each names the funnel, so analytics can count it."""
    events.record(
        session,
        account_id=order.account_id,
        type=type_,
        subject_id=order.id,
        payload={
            "order_id": str(order.id),
            "number": order.number,
            "funnel_id": str(order.funnel_id) if order.funnel_id else None,
            "contact_id": str(order.contact_id) if order.contact_id else None,
            "visitor_id": order.visitor_id,
            "session_id": order.session_id,
            **extra,
        },
    )
