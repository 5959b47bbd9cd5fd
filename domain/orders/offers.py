"""Offers added to an order after checkout began: bumps before payment, one-click upsells after.

A bump changes the checkout PaymentIntent's amount while the buyer has not confirmed it.
An accepted upsell or downsell is a PaymentIntent of its own on the card the checkout saved,
charged off-session by a worker with an idempotency key derived from the upsell's id.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from domain.accounts.schemas import Principal
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.orders import repository as repo
from domain.orders import task_names
from domain.orders.events import order_event
from domain.orders.models import Order, OrderCharge, OrderUpsell
from domain.orders.pricing import PricedItem
from domain.orders.schemas import BumpIn, CheckoutCart, UpsellIn
from domain.orders.service import (
    NotSettledYet,
    call_stripe,
    hash_token,
    live_offer_of_type,
    locked_order,
    price_checkout,
)
from domain.orders.stripe_gateway import (
    AuthenticationRequired,
    CardDeclined,
    Intent,
    StripeGateway,
    past_key_window,
)
from domain.products import service as products
from domain.shared.db import utcnow
from domain.shared.errors import Conflict, Forbidden, InvalidInput
from domain.shared.remote import RemoteError
from domain.shared.settings import get_settings

# Orders whose buyer may still be shown one-click offers: paid, or about to be (the buyer
# can reach the upsell page before the settling job has run; the charge waits for it).
UPSELL_ORDER_STATUSES = ("awaiting_payment", "processing", "paid", "fulfilled")


def _buyer_order(
    session: Session, caller: Principal, order_id: uuid.UUID, customer_token: str | None
) -> Order:
    """The order, locked; a checkout page (publishable key) must also hold its customer token."""
    order = locked_order(session, caller.account_id, order_id)
    if caller.kind == "publishable_key" and not (
        customer_token
        and hmac.compare_digest(hash_token(customer_token), order.customer_token_hash)
    ):
        raise Forbidden(
            "With the publishable key, send the order's customer_token",
            code="invalid_customer_token",
        )
    # A leaked token must not answer offers on the saved card for ever: the checkout page
    # uses it within minutes of the order; the merchant (Bearer) is not limited.
    ttl = timedelta(minutes=get_settings().customer_token_ttl_minutes)
    if caller.kind == "publishable_key" and utcnow() - order.created_at > ttl:
        raise Forbidden(
            "The customer_token has expired; the merchant can still act on the order",
            code="customer_token_expired",
        )
    return order


def add_bump(
    session: Session,
    *,
    caller: Principal,
    order_id: uuid.UUID,
    data: BumpIn,
    gateway: StripeGateway,
) -> Order:
    """Add one of the order form's bumps while the payment is unconfirmed (again: no change).

    The PaymentIntent's amount is raised first; Stripe refuses once the buyer has confirmed,
    which answers 409 `payment_already_confirmed` and changes nothing here.
    """
    order = _buyer_order(session, caller, order_id, data.customer_token)
    taken = repo.bump_product_ids(session, order.id)
    if data.product_id in taken:
        return order
    if order.status not in ("awaiting_payment", "payment_failed") or order.funnel_id is None:
        raise Conflict(f"A {order.status} order takes no more bumps", code="order_not_open")
    assert order.step_id is not None
    cart = price_checkout(
        session,
        account_id=order.account_id,
        data=CheckoutCart(
            funnel_id=order.funnel_id,
            step_id=order.step_id,
            bump_product_ids=[*taken, data.product_id],
        ),
    )
    bump = next(i for i in cart.items if i.product_id == data.product_id and i.kind == "bump")
    charge = repo.main_charge(session, order.id)
    assert charge is not None
    payment_intent = charge.stripe_payment_intent_id
    assert payment_intent is not None
    total = order.total_cents + bump.unit_price_cents
    call_stripe(
        lambda: gateway.update_amount(
            payment_intent=payment_intent,
            amount=total,
            metadata={"bump_product_ids": ",".join(str(b) for b in [*taken, bump.product_id])},
            key=f"order:{order.id}:bump:{bump.product_id}",
        ),
        refused=Conflict(
            "The buyer has confirmed the payment; bumps can no longer be added",
            code="payment_already_confirmed",
        ),
    )
    repo.add_item(session, order, bump)
    order.total_cents = charge.amount_cents = total
    order_event(
        session,
        order,
        "order.bump_added",
        product_id=str(bump.product_id),
        price_cents=bump.unit_price_cents,
        total_cents=total,
    )
    session.flush()
    return order


def answer_upsell(
    session: Session, *, caller: Principal, order_id: uuid.UUID, data: UpsellIn
) -> tuple[OrderUpsell, Job | None]:
    """Record the buyer's answer to an upsell or downsell step; an accept queues its charge.

    Each offer step is answered once per order: the same answer again returns the first
    one, a different answer is 409 `upsell_already_answered`.
    """
    order = _buyer_order(session, caller, order_id, data.customer_token)
    decision = "accepted" if data.decision == "accept" else "declined"
    earlier = repo.upsell_of(session, order.id, data.step_id)
    if earlier is not None:
        if earlier.decision != decision:
            raise Conflict(
                f"This offer was {earlier.decision} already", code="upsell_already_answered"
            )
        return earlier, None
    if order.status not in UPSELL_ORDER_STATUSES or order.funnel_id is None:
        raise Conflict(f"A {order.status} order takes no upsells", code="order_not_paid")
    offer = live_offer_of_type(
        session,
        account_id=order.account_id,
        funnel_id=order.funnel_id,
        step_id=data.step_id,
        step_types=("upsell", "downsell"),
        refusal=("Answer an upsell or downsell step of the order's funnel", "not_an_upsell_step"),
    )
    product = products.sellable_by_id(
        session, account_id=order.account_id, product_ids=[offer["product_id"]]
    ).get(offer["product_id"])
    if product is None:
        raise InvalidInput("The offer's product is not for sale", code="product_unavailable")
    if product.currency != order.currency:
        raise InvalidInput("The offer is priced in another currency", code="currency_mismatch")
    upsell = OrderUpsell(
        id=uuid.uuid4(),
        account_id=order.account_id,
        order_id=order.id,
        step_id=data.step_id,
        offer_type=offer["step_type"],
        product_id=product.id,
        decision=decision,
        price_cents=product.price_cents,
    )
    session.add(upsell)
    if decision == "declined":
        session.flush()
        order_event(session, order, "upsell.declined", **_upsell_payload(upsell))
        return upsell, None
    charge = OrderCharge(
        id=uuid.uuid4(),
        account_id=order.account_id,
        order_id=order.id,
        kind="upsell",
        status="pending",
        currency=order.currency,
        amount_cents=product.price_cents,
    )
    session.add(charge)
    session.flush()
    job = jobs.enqueue(
        session,
        account_id=order.account_id,
        task=task_names.CHARGE_UPSELL,
        arguments={"upsell_id": str(upsell.id)},
    )
    upsell.charge_id, upsell.job_id = charge.id, job.id
    session.flush()
    return upsell, job


def _upsell_payload(upsell: OrderUpsell, **extra: Any) -> dict[str, Any]:
    return {
        "upsell_id": str(upsell.id),
        "step_id": str(upsell.step_id),
        "offer_type": upsell.offer_type,
        "product_id": str(upsell.product_id),
        "price_cents": upsell.price_cents,
        **extra,
    }


def charge_upsell(
    session: Session,
    *,
    upsell_id: uuid.UUID,
    gateway: StripeGateway,
    first_tried_at: datetime | None = None,
) -> dict[str, Any]:
    """Charge an accepted offer on the saved card, once (our key), and record the outcome.

    Waits (NotSettledYet, no retry spent) while the checkout payment is unsettled; an order
    that ends unpaid cancels the charge. A declined card fails it; `authentication_required`
    leaves it `requires_action` for the buyer, never a retry. A retry first tried longer ago
    than Stripe keeps keys looks the PaymentIntent up by our id before charging.
    """
    found = _locked_upsell(session, upsell_id)
    if found is None:
        return {"status": "missing"}
    upsell, order, charge = found
    if charge.status != "pending":
        return {"status": charge.status}
    if order.status in ("awaiting_payment", "processing"):
        raise NotSettledYet("the checkout payment is not settled yet")
    if order.status not in ("paid", "fulfilled") or not order.stripe_payment_method_id:
        charge.status = "cancelled"
        order_event(session, order, "upsell.payment_failed", **_upsell_payload(upsell))
        return {"status": "cancelled"}
    intent = _known_intent(upsell, order, charge, gateway, first_tried_at)
    if intent is None:
        assert order.stripe_customer_id is not None
        try:
            intent = gateway.charge_off_session(
                amount=charge.amount_cents,
                currency=charge.currency,
                customer=order.stripe_customer_id,
                payment_method=order.stripe_payment_method_id,
                metadata={"order_id": str(order.id), "upsell_id": str(upsell.id)},
                key=f"upsell:{upsell.id}:charge",
            )
        except CardDeclined as exc:
            charge.stripe_payment_intent_id = exc.payment_intent
            status = "requires_action" if isinstance(exc, AuthenticationRequired) else "failed"
            _charge_failed(session, upsell, order, charge, status, exc.decline_code or exc.code)
            return {"status": charge.status}
        if intent.status not in ("succeeded", "canceled", "requires_payment_method"):
            # A replayed answer is frozen at the first call: read how the payment stands now.
            intent = gateway.retrieve(intent.id)
    charge.stripe_payment_intent_id = intent.id
    _apply_upsell_intent(session, upsell, order, charge, intent)
    return {"status": charge.status}


def _locked_upsell(
    session: Session, upsell_id: uuid.UUID
) -> tuple[OrderUpsell, Order, OrderCharge] | None:
    """An accepted upsell, its order and its charge, locked."""
    upsell = repo.upsell_for_update(session, upsell_id)
    if upsell is None or upsell.charge_id is None:
        return None
    order = repo.order_for_update(session, upsell.order_id)
    charge = repo.charge_of_order(session, upsell.order_id, upsell.charge_id)
    assert order is not None
    assert charge is not None
    return upsell, order, charge


def _known_intent(
    upsell: OrderUpsell,
    order: Order,
    charge: OrderCharge,
    gateway: StripeGateway,
    first_tried_at: datetime | None,
) -> Intent | None:
    """The upsell's PaymentIntent if Stripe already has it: known by id, or found by ours."""
    if charge.stripe_payment_intent_id is not None:
        return gateway.retrieve(charge.stripe_payment_intent_id)
    if not past_key_window(first_tried_at) or order.stripe_customer_id is None:
        return None
    return gateway.find_payment_intent(
        customer=order.stripe_customer_id, metadata_key="upsell_id", value=str(upsell.id)
    )


def _apply_upsell_intent(
    session: Session, upsell: OrderUpsell, order: Order, charge: OrderCharge, intent: Intent
) -> None:
    """Record what the upsell's PaymentIntent says; NotSettledYet while it is processing."""
    if intent.status == "requires_action":
        _charge_failed(session, upsell, order, charge, "requires_action", "authentication_required")
        return
    if intent.status in ("canceled", "requires_payment_method"):
        _charge_failed(session, upsell, order, charge, "failed", intent.failure_code)
        return
    if intent.status != "succeeded":
        raise NotSettledYet(f"upsell payment {intent.status}")
    charge.status, charge.captured_cents = "succeeded", intent.amount_received
    charge.stripe_charge_id = intent.latest_charge
    product = products.get(session, account_id=order.account_id, product_id=upsell.product_id)
    repo.add_item(
        session, order, PricedItem(product.id, "upsell", product.name, charge.amount_cents)
    )
    order.total_cents += charge.amount_cents
    order_event(
        session,
        order,
        "upsell.accepted",
        **_upsell_payload(upsell, amount_cents=intent.amount_received, currency=order.currency),
    )
    session.flush()


def _charge_failed(
    session: Session,
    upsell: OrderUpsell,
    order: Order,
    charge: OrderCharge,
    status: str,
    reason: str | None,
) -> None:
    """The upsell's charge ends failed (or requires_action) with upsell.payment_failed."""
    charge.status, charge.failure_code = status, reason
    order_event(session, order, "upsell.payment_failed", **_upsell_payload(upsell, reason=reason))


def give_up_upsell(session: Session, *, upsell_id: uuid.UUID, gateway: StripeGateway) -> None:
    """The charge job's schedule is spent: one last look at Stripe, else the charge fails."""
    found = _locked_upsell(session, upsell_id)
    if found is None or found[2].status != "pending":
        return
    upsell, order, charge = found
    intent = None
    try:
        if charge.stripe_payment_intent_id is not None:
            intent = gateway.retrieve(charge.stripe_payment_intent_id)
        elif order.stripe_customer_id is not None:
            intent = gateway.find_payment_intent(
                customer=order.stripe_customer_id, metadata_key="upsell_id", value=str(upsell.id)
            )
    except RemoteError:
        intent = None
    if intent is None:
        _charge_failed(session, upsell, order, charge, "failed", "provider_unavailable")
        return
    charge.stripe_payment_intent_id = intent.id
    try:
        _apply_upsell_intent(session, upsell, order, charge, intent)
    except NotSettledYet:
        # Stripe is still processing the payment: a new job follows it to its end.
        upsell.job_id = jobs.enqueue(
            session,
            account_id=order.account_id,
            task=task_names.CHARGE_UPSELL,
            arguments={"upsell_id": str(upsell.id)},
        ).id
