"""Use cases of orders and payments (so far: pricing a checkout into a PaymentIntent)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from domain.funnels import service as funnels
from domain.orders.pricing import PricedCart, price_cart
from domain.orders.schemas import CartItemOut, PaymentIntentIn, PaymentIntentOut
from domain.orders.stripe_gateway import StripeGateway
from domain.products import service as products
from domain.shared.errors import AppError, InvalidInput, ServiceUnavailable
from domain.shared.remote import FinalRemoteError, RetryableRemoteError, short_retry

T = TypeVar("T")


class PaymentProviderError(AppError):
    """Stripe refused a request we built: our bug or our configuration, not the buyer's."""

    status_code = 502
    code = "payment_provider_error"
    message = "The payment provider refused the request"


def _stripe(call: Callable[[], T]) -> T:
    """A Stripe call made while a buyer waits: a few quick retries, then a clear error."""
    try:
        return short_retry()(call)()
    except RetryableRemoteError as exc:
        raise ServiceUnavailable(
            "The payment provider is not answering; try again shortly",
            code="payment_provider_unavailable",
        ) from exc
    except FinalRemoteError as exc:
        raise PaymentProviderError() from exc


def price_checkout(session: Session, *, account_id: uuid.UUID, data: PaymentIntentIn) -> PricedCart:
    """The cart of a live funnel's order form with the chosen bumps, at catalogue prices."""
    offer = funnels.live_offer(
        session, account_id=account_id, funnel_id=data.funnel_id, step_id=data.step_id
    )
    if offer["step_type"] != "order_form":
        raise InvalidInput(
            "A checkout starts on an order_form step",
            code="not_an_order_form",
            details=[{"loc": ["body", "step_id"], "msg": f"this is a {offer['step_type']} step"}],
        )
    offered: list[uuid.UUID] = offer["bump_product_ids"]
    catalogue = products.sellable_by_id(
        session, account_id=account_id, product_ids=[offer["product_id"], *offered]
    )
    return price_cart(
        main=catalogue.get(offer["product_id"]),
        offered_bumps=offered,
        chosen_bumps=data.bump_product_ids,
        products=catalogue,
    )


def create_payment_intent(
    session: Session, *, account_id: uuid.UUID, data: PaymentIntentIn, gateway: StripeGateway
) -> PaymentIntentOut:
    """Price the checkout and open a PaymentIntent that saves the card for one-click upsells."""
    cart = price_checkout(session, account_id=account_id, data=data)
    checkout_id = uuid.uuid4().hex
    customer = _stripe(
        lambda: gateway.create_customer(
            email=str(data.email) if data.email else None, name=None, key=f"{checkout_id}:customer"
        )
    )
    intent = _stripe(
        lambda: gateway.create_payment_intent(
            amount=cart.total_cents,
            currency=cart.currency,
            customer=customer,
            metadata={
                "account_id": str(account_id),
                "funnel_id": str(data.funnel_id),
                "step_id": str(data.step_id),
                "checkout_id": checkout_id,
                "bump_product_ids": ",".join(str(b) for b in data.bump_product_ids),
            },
            key=f"{checkout_id}:payment_intent",
        )
    )
    assert intent.client_secret is not None
    return PaymentIntentOut(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        status=intent.status,
        currency=cart.currency,
        total_cents=cart.total_cents,
        items=[
            CartItemOut(
                product_id=i.product_id,
                kind=i.kind,
                name=i.name,
                unit_price_cents=i.unit_price_cents,
                quantity=i.quantity,
                total_cents=i.total_cents,
            )
            for i in cart.items
        ],
    )
