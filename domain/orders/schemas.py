"""Request and response shapes of orders and payments."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, EmailStr, Field

from domain.shared.schemas import Id, InputModel

MAX_BUMPS = 5


class CheckoutCart(InputModel):
    """What a checkout page buys: an order form's offer and bumps (never a price)."""

    funnel_id: Id
    step_id: Id = Field(description="the funnel's order_form step")
    bump_product_ids: list[Id] = Field(default_factory=list, max_length=MAX_BUMPS)
    key: str | None = Field(
        default=None, max_length=200, description="the publishable key (or send it as a header)"
    )


class PaymentIntentIn(CheckoutCart):
    """A checkout page asks to pay for an offer (prices come from the catalogue)."""

    email: EmailStr | None = Field(default=None, description="the buyer's email, if known yet")


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

    email: EmailStr
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
