"""Request and response shapes of orders and payments."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, EmailStr, Field

from domain.shared.schemas import Id, InputModel

MAX_BUMPS = 5


class PaymentIntentIn(InputModel):
    """A checkout page asks to pay for an offer (prices come from the catalogue, not from here)."""

    funnel_id: Id
    step_id: Id = Field(description="the funnel's order_form step")
    bump_product_ids: list[Id] = Field(default_factory=list, max_length=MAX_BUMPS)
    email: EmailStr | None = Field(default=None, description="the buyer's email, if known yet")
    key: str | None = Field(
        default=None, max_length=200, description="the publishable key (or send it as a header)"
    )


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
