"""Request and response shapes of orders and payments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.shared.schemas import Cents, Email, Id, InputModel, OutputModel, VisitorRef

MAX_BUMPS = 5


class CheckoutCart(InputModel):
    """What a checkout page buys: an order form's offer and bumps (never a price)."""

    funnel_id: Id
    step_id: Id = Field(description="the funnel's order_form step")
    bump_product_ids: list[Id] = Field(default_factory=list, max_length=MAX_BUMPS)
    key: str | None = Field(
        default=None, max_length=200, description="the publishable key (or send it as a header)"
    )
    visitor_id: VisitorRef | None = Field(
        default=None, description="the visitor whose views led here (analytics attribution)"
    )
    session_id: VisitorRef | None = Field(default=None, description="the visitor's session")


class PaymentIntentIn(CheckoutCart):
    """A checkout page asks to pay for an offer (prices come from the catalogue)."""

    email: Email | None = Field(default=None, description="the buyer's email, if known yet")


class CartItemOut(BaseModel):
    """A line of a priced cart."""

    product_id: uuid.UUID
    kind: str
    name: str
    unit_price_cents: int
    quantity: int
    total_cents: int


class PaymentIntentOut(BaseModel):
    """What the checkout page needs to let the buyer pay with Stripe.js."""

    payment_intent_id: str
    client_secret: str
    status: str
    currency: str
    total_cents: int
    items: list[CartItemOut]


class CustomerIn(InputModel):
    """Who is buying."""

    email: Email
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)


class AddressIn(InputModel):
    """A billing address."""

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    state: str | None = Field(default=None, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class OrderIn(CheckoutCart):
    """The order for a PaymentIntent from /orders/payment-intent (the same cart again)."""

    payment_intent_id: str = Field(pattern=r"^pi_[A-Za-z0-9_]{1,250}$")
    customer: CustomerIn
    billing_address: AddressIn | None = None


class OrderCreatedOut(BaseModel):
    """An order waiting for its payment to settle."""

    id: uuid.UUID
    number: int
    status: str
    payment_status: str
    currency: str
    total_cents: int
    payment_intent_id: str
    job_id: uuid.UUID
    customer_token: str = Field(description="lets this checkout page add bumps and upsells")


class OrderItemOut(OutputModel):
    """A line of an order."""

    product_id: uuid.UUID
    kind: str
    name: str
    unit_price_cents: int
    quantity: int


class OrderBumpOut(OutputModel):
    """A bump taken with the main charge."""

    product_id: uuid.UUID
    price_cents: int
    created_at: datetime


class OrderChargeOut(OutputModel):
    """One PaymentIntent of the order and where it stands."""

    id: uuid.UUID
    kind: str
    status: str
    currency: str
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    stripe_payment_intent_id: str | None
    failure_code: str | None


class OrderUpsellOut(OutputModel):
    """A one-click offer shown after checkout, and the answer."""

    id: uuid.UUID
    step_id: uuid.UUID
    offer_type: str
    product_id: uuid.UUID
    decision: str
    price_cents: int
    charge_id: uuid.UUID | None
    created_at: datetime


class RefundOut(OutputModel):
    """Money given back from one charge."""

    id: uuid.UUID
    charge_id: uuid.UUID
    amount_cents: int
    reason: str | None
    status: str
    failure_reason: str | None
    created_at: datetime


class OrderSummaryOut(OutputModel):
    """An order as lists show it."""

    id: uuid.UUID
    number: int
    funnel_id: uuid.UUID | None
    status: str
    payment_status: str
    currency: str
    total_cents: int
    customer_email: str
    customer_name: str | None
    created_at: datetime
    paid_at: datetime | None


class OrderOut(OrderSummaryOut):
    """An order with everything it holds and its payment state."""

    step_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    billing_address: dict[str, Any]
    cancelled_at: datetime | None
    fulfilled_at: datetime | None
    items: list[OrderItemOut]
    bumps: list[OrderBumpOut]
    charges: list[OrderChargeOut]
    upsells: list[OrderUpsellOut]
    refunds: list[RefundOut]


class StripeWebhookOut(BaseModel):
    """What became of a Stripe event."""

    duplicate: bool = Field(description="delivered before: nothing was done again")
    job_id: str | None = Field(default=None, description="the settling job it queued, if any")


class OrderJobOut(BaseModel):
    """An order and the job now working on it."""

    id: uuid.UUID
    status: str
    job_id: uuid.UUID


class RefundIn(InputModel):
    """Give money back from one charge of an order."""

    amount_cents: Cents | None = Field(
        default=None, gt=0, description="default: all that is left of the charge"
    )
    charge_id: Id | None = Field(default=None, description="default: the checkout's charge")
    reason: str | None = Field(default=None, max_length=500)


class RefundAcceptedOut(RefundOut):
    """A refund on its way, and the job executing it."""

    job_id: uuid.UUID


class BuyerIn(InputModel):
    """A checkout page acting on its order: with the publishable key, the customer token too."""

    customer_token: str | None = Field(
        default=None,
        max_length=100,
        description="from POST /orders; needed with the publishable key",
    )
    key: str | None = Field(
        default=None, max_length=200, description="the publishable key (or send it as a header)"
    )


class BumpIn(BuyerIn):
    """Add one of the order form's bumps before the buyer confirms the payment."""

    product_id: Id


class UpsellIn(BuyerIn):
    """The buyer's answer to a one-click upsell or downsell step of the order's funnel."""

    step_id: Id
    decision: Literal["accept", "decline"]


class UpsellAnswerOut(OrderUpsellOut):
    """An answered offer; an accepted one is charged by the job named here."""

    order_id: uuid.UUID
    job_id: uuid.UUID | None = Field(description="the charging job (accepted offers)")
