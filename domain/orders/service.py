"""Use cases of orders and payments: checkout PaymentIntents, orders, settling payments."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from domain.contacts import service as contacts
from domain.funnels import service as funnels
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.orders import disputes, refunds, task_names
from domain.orders import repository as repo
from domain.orders.events import order_event
from domain.orders.models import Order, OrderCharge, Refund
from domain.orders.pricing import PricedCart, price_cart
from domain.orders.schemas import (
    CartItemOut,
    CheckoutCart,
    OrderIn,
    OrderOut,
    OrderSummaryOut,
    PaymentIntentIn,
    PaymentIntentOut,
    RefundIn,
)
from domain.orders.stripe_gateway import Intent, StripeGateway
from domain.products import service as products
from domain.shared.db import utcnow
from domain.shared.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable
from domain.shared.remote import FinalRemoteError, NotYet, RetryableRemoteError, short_retry
from domain.shared.schemas import PageParams
from domain.shared.settings import get_settings

T = TypeVar("T")


class PaymentProviderError(AppError):
    """Stripe refused a request we built: our bug or our configuration, not the buyer's."""

    status_code = 502
    code = "payment_provider_error"
    message = "The payment provider refused the request"


def call_stripe(call: Callable[[], T], *, refused: AppError | None = None) -> T:
    """A Stripe call made while a buyer waits: a few quick retries, then a clear error.

    refused is the answer when Stripe turns the request down as invalid now (a 400, e.g. a
    PaymentIntent no longer in a state that allows it); other refusals are our fault (502).
    """
    try:
        return short_retry()(call)()
    except RetryableRemoteError as exc:
        raise ServiceUnavailable(
            "The payment provider is not answering; try again shortly",
            code="payment_provider_unavailable",
        ) from exc
    except FinalRemoteError as exc:
        if refused is not None and exc.status == 400:
            raise refused from exc
        raise PaymentProviderError() from exc


def live_offer_of_type(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    step_types: tuple[str, ...],
    refusal: tuple[str, str],
) -> dict[str, Any]:
    """A live funnel's offer step of one of step_types, or 422 (refusal: message, code)."""
    offer = funnels.live_offer(session, account_id=account_id, funnel_id=funnel_id, step_id=step_id)
    if offer["step_type"] not in step_types:
        message, code = refusal
        raise InvalidInput(
            message,
            code=code,
            details=[{"loc": ["body", "step_id"], "msg": f"this is a {offer['step_type']} step"}],
        )
    return offer


def price_checkout(session: Session, *, account_id: uuid.UUID, data: CheckoutCart) -> PricedCart:
    """The cart of a live funnel's order form with the chosen bumps, at catalogue prices."""
    offer = live_offer_of_type(
        session,
        account_id=account_id,
        funnel_id=data.funnel_id,
        step_id=data.step_id,
        step_types=("order_form",),
        refusal=("A checkout starts on an order_form step", "not_an_order_form"),
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
    customer = call_stripe(
        lambda: gateway.create_customer(
            email=str(data.email) if data.email else None, name=None, key=f"{checkout_id}:customer"
        )
    )
    intent = call_stripe(
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


def hash_token(token: str) -> str:
    """How a customer token is stored: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_intent_matches(
    intent: Intent, account_id: uuid.UUID, data: OrderIn, cart: PricedCart
) -> None:
    """The PaymentIntent must be the one /payment-intent opened for this very cart."""
    meta = intent.metadata
    same_cart = (
        meta.get("account_id") == str(account_id)
        and meta.get("funnel_id") == str(data.funnel_id)
        and meta.get("step_id") == str(data.step_id)
        and meta.get("bump_product_ids", "") == ",".join(str(b) for b in data.bump_product_ids)
    )
    if not same_cart or intent.amount != cart.total_cents or intent.currency != cart.currency:
        raise Conflict(
            "The PaymentIntent was not opened for this cart; ask for a new one",
            code="payment_intent_mismatch",
        )
    if intent.status == "canceled":
        raise Conflict("The PaymentIntent was cancelled", code="payment_intent_canceled")


def create_order(
    session: Session, *, account_id: uuid.UUID, data: OrderIn, gateway: StripeGateway
) -> tuple[Order, OrderCharge, Job, str]:
    """The order for a checkout's PaymentIntent, awaiting payment, and the job that settles it.

    Answers (order, its main charge, the job, the customer token shown once).
    """
    cart = price_checkout(session, account_id=account_id, data=data)
    intent = call_stripe(lambda: gateway.retrieve(data.payment_intent_id))
    _check_intent_matches(intent, account_id, data, cart)
    if repo.charge_by_intent(session, intent.id) is not None:
        raise Conflict("An order exists for this PaymentIntent", code="order_exists")
    contact, _ = contacts.upsert_contact(
        session,
        account_id=account_id,
        email=str(data.customer.email),
        first_name=data.customer.first_name,
        last_name=data.customer.last_name,
        phone=data.customer.phone,
        source="checkout",
        visitor_id=data.visitor_id,
    )
    token = secrets.token_urlsafe(32)
    order = Order(
        id=uuid.uuid4(),
        account_id=account_id,
        number=repo.next_order_number(session, account_id),
        funnel_id=data.funnel_id,
        step_id=data.step_id,
        contact_id=contact.id,
        visitor_id=data.visitor_id,
        session_id=data.session_id,
        status="awaiting_payment",
        payment_status="unpaid",
        currency=cart.currency,
        total_cents=cart.total_cents,
        customer_email=contact.email,
        customer_name=" ".join(filter(None, [data.customer.first_name, data.customer.last_name]))
        or None,
        billing_address=data.billing_address.model_dump() if data.billing_address else {},
        customer_token_hash=hash_token(token),
        stripe_customer_id=intent.customer,
        expires_at=utcnow() + payment_timeout(),
    )
    charge = OrderCharge(
        id=uuid.uuid4(),
        account_id=account_id,
        order_id=order.id,
        kind="main",
        status="pending",
        currency=cart.currency,
        amount_cents=cart.total_cents,
        stripe_payment_intent_id=intent.id,
    )
    repo.add_order(session, order, charge, cart)
    job = jobs.enqueue(
        session,
        account_id=account_id,
        task=task_names.SETTLE_ORDER,
        arguments={"order_id": str(order.id)},
    )
    order_event(
        session,
        order,
        "order.created",
        total_cents=order.total_cents,
        currency=order.currency,
    )
    return order, charge, job, token


class NotSettledYet(NotYet):
    """The buyer has not finished paying: look again later (no retry spent)."""


# Orders whose payment may still change: a declined buyer may try another card on the same
# PaymentIntent, so a failed order stays open to a later success or cancellation.
OPEN_STATUSES = ("awaiting_payment", "processing", "payment_failed")
# Open orders that expire (ORDER_PAYMENT_TIMEOUT_MINUTES) and are cancelled. A `processing`
# payment is the bank deciding on money the buyer sent: it is followed to its end, never
# cancelled.
EXPIRING_STATUSES = ("awaiting_payment", "payment_failed")
# An expired order whose cancellation failed is looked at again this much later.
EXPIRY_RECHECK = timedelta(hours=1)


def payment_timeout() -> timedelta:
    """How long an order may stay unpaid before it is cancelled."""
    return timedelta(minutes=get_settings().order_payment_timeout_minutes)


def _apply_intent(
    session: Session,
    order: Order,
    charge: OrderCharge,
    intent: Intent,
    cancel_reason: str = "canceled_at_stripe",
) -> None:
    """Move an open order to what its PaymentIntent says; NotSettledYet while undecided."""
    now = utcnow()
    if intent.status == "succeeded":
        order.status, order.payment_status, order.paid_at = "paid", "paid", now
        order.expires_at = None
        order.stripe_payment_method_id = intent.payment_method
        order.stripe_customer_id = intent.customer or order.stripe_customer_id
        charge.status, charge.captured_cents = "succeeded", intent.amount_received
        charge.stripe_charge_id, charge.failure_code = intent.latest_charge, None
        _wake_upsell_charges(session, order)
        order_event(
            session,
            order,
            "order.paid",
            step_id=str(order.step_id) if order.step_id else None,
            amount_cents=intent.amount_received,
            currency=order.currency,
            bump_count=len(repo.bump_product_ids(session, order.id)),
        )
    elif intent.status == "canceled":
        order.status, charge.status, order.cancelled_at = "cancelled", "cancelled", now
        order.expires_at = None
        order_event(session, order, "order.cancelled", reason=cancel_reason)
    elif intent.status == "requires_payment_method" and intent.failure_code:
        if order.status != "payment_failed":
            order.status, order.payment_status = "payment_failed", "failed"
            charge.status, charge.failure_code = "failed", intent.failure_code
            order_event(session, order, "order.payment_failed", reason=intent.failure_code)
    elif intent.status == "processing":
        order.status = "processing"  # committed with the wait: the expiry sweep leaves it be
        raise NotSettledYet("payment processing")
    elif order.status != "payment_failed":
        raise NotSettledYet(f"payment {intent.status}")


def _wake_upsell_charges(session: Session, order: Order) -> None:
    """Upsells accepted while the checkout was being paid are charged now, not at their next
    look (which may be an hour away); the waiting job then finds the charge done."""
    for upsell_id in repo.upsells_awaiting_charge(session, order.id):
        jobs.enqueue(
            session,
            account_id=order.account_id,
            task=task_names.CHARGE_UPSELL,
            arguments={"upsell_id": str(upsell_id)},
        )


def locked_order(session: Session, account_id: uuid.UUID, order_id: uuid.UUID) -> Order:
    """One of the account's orders, locked until the transaction ends, or 404."""
    order = repo.order_for_update(session, order_id)
    if order is None or order.account_id != account_id:
        raise NotFound("Order not found")
    return order


def _locked_open_order(
    session: Session, order_id: uuid.UUID
) -> tuple[Order | None, OrderCharge | None]:
    """The order, locked, and its main charge if its payment may still change."""
    order = repo.order_for_update(session, order_id)
    if order is None or order.status not in OPEN_STATUSES:
        return order, None
    return order, repo.main_charge(session, order.id)


def settle_order(
    session: Session, *, order_id: uuid.UUID, gateway: StripeGateway
) -> dict[str, Any]:
    """Bring an order in line with its PaymentIntent as Stripe has it now (idempotent).

    Paid and cancelled are final; an unconfirmed or processing payment raises NotSettledYet
    so the job looks again later, until the order is past its payment timeout: then the
    expiry sweep cancels it and this job stops looking.
    """
    order, charge = _locked_open_order(session, order_id)
    if order is None or charge is None:
        return {"status": order.status if order else "missing"}
    assert charge.stripe_payment_intent_id is not None
    try:
        _apply_intent(session, order, charge, gateway.retrieve(charge.stripe_payment_intent_id))
    except NotSettledYet:
        expired = utcnow() >= order.created_at + payment_timeout()
        if order.status in EXPIRING_STATUSES and expired:
            return {"status": order.status, "left_to": "expiry"}
        raise
    session.flush()
    return {"status": order.status}


def expire_unpaid(
    session: Session,
    *,
    now: datetime,
    limit: int = 200,
    account_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Queue the cancellation of orders still unpaid past their timeout; how many (beat).

    account_ids narrows the sweep (the simulated-time tests run it for their accounts only).
    """
    due = repo.lock_expired_orders(
        session, now=now, statuses=EXPIRING_STATUSES, limit=limit, account_ids=account_ids
    )
    for order in due:
        order.expires_at = None  # a cancellation is under way; its failure sets it again
        jobs.enqueue(
            session,
            account_id=order.account_id,
            task=task_names.CANCEL_ORDER,
            arguments={"order_id": str(order.id), "reason": "expired"},
        )
    return len(due)


def stuck_money(
    session: Session, *, account_ids: Collection[uuid.UUID] | None = None
) -> list[tuple[str, uuid.UUID, str]]:
    """Refunds, charges and orders left pending with nothing that will move them (none, ever)."""
    return repo.stuck(session, expiring=EXPIRING_STATUSES, account_ids=account_ids)


def settle_failed(session: Session, *, order_id: uuid.UUID) -> None:
    """A settling job gave up: a payment the bank is processing gets a new job to follow it.

    Unpaid orders need none: the expiry sweep ends them.
    """
    order = repo.order_for_update(session, order_id)
    if order is not None and order.status == "processing":
        jobs.enqueue(
            session,
            account_id=order.account_id,
            task=task_names.SETTLE_ORDER,
            arguments={"order_id": str(order.id)},
        )


def cancel_failed(session: Session, *, order_id: uuid.UUID) -> None:
    """A cancellation gave up (Stripe unreachable): the expiry sweep tries again later."""
    order = repo.order_for_update(session, order_id)
    if order is not None and order.status in OPEN_STATUSES:
        order.expires_at = utcnow() + EXPIRY_RECHECK


def request_cancel(
    session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID
) -> tuple[Order, Job]:
    """Queue the cancellation of an unpaid order and its PaymentIntent (409 once paid)."""
    order = locked_order(session, account_id, order_id)
    if order.status not in ("awaiting_payment", "payment_failed"):
        raise Conflict(
            f"A {order.status} order cannot be cancelled (refund a paid one)",
            code="order_not_cancellable",
        )
    job = jobs.enqueue(
        session,
        account_id=account_id,
        task=task_names.CANCEL_ORDER,
        arguments={"order_id": str(order.id)},
    )
    return order, job


def cancel_order(
    session: Session, *, order_id: uuid.UUID, gateway: StripeGateway, reason: str = "requested"
) -> dict[str, Any]:
    """Cancel the PaymentIntent, then settle from it: a buyer who paid meanwhile stays paid.

    reason: `requested` (the merchant) or `expired` (unpaid past the timeout).
    """
    order, charge = _locked_open_order(session, order_id)
    if order is None or charge is None:
        return {"status": order.status if order else "missing"}
    assert charge.stripe_payment_intent_id is not None
    intent = gateway.retrieve(charge.stripe_payment_intent_id)
    if intent.status in ("processing", "succeeded", "canceled"):
        # The buyer has paid (or the bank is deciding): never cancel that; follow it.
        _apply_intent(session, order, charge, intent, cancel_reason=reason)
        session.flush()
        return {"status": order.status}
    try:
        intent = gateway.cancel(
            payment_intent=charge.stripe_payment_intent_id, key=f"order:{order.id}:cancel"
        )
    except FinalRemoteError:
        # Stripe refuses to cancel a PaymentIntent that succeeded (or is canceled already).
        intent = gateway.retrieve(charge.stripe_payment_intent_id)
    _apply_intent(session, order, charge, intent, cancel_reason=reason)
    session.flush()
    return {"status": order.status}


def complete_order(session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID) -> Order:
    """Mark a paid order fulfilled (again: no change); 409 unless it is paid."""
    order = locked_order(session, account_id, order_id)
    if order.status == "fulfilled":
        return order
    if order.status != "paid":
        raise Conflict(f"A {order.status} order cannot be fulfilled", code="order_not_paid")
    order.status, order.fulfilled_at = "fulfilled", utcnow()
    order_event(session, order, "order.fulfilled")
    session.flush()
    return order


def request_refund(
    session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID, data: RefundIn
) -> tuple[Refund, Job]:
    """Reserve a refund on one charge and queue it; the charge can never give back more
    than it captured (422 `refund_exceeds_charge`)."""
    order = locked_order(session, account_id, order_id)
    if order.status not in ("paid", "fulfilled"):
        raise Conflict(f"A {order.status} order has nothing to refund", code="order_not_paid")
    charge = repo.charge_of_order(session, order.id, data.charge_id)
    if charge is None:
        raise NotFound("No such charge on this order")
    if charge.status != "succeeded":
        raise Conflict("That charge captured nothing", code="charge_not_captured")
    left = charge.captured_cents - charge.refunded_cents
    amount = data.amount_cents or left
    if amount <= 0 or not repo.reserve_refund(session, charge.id, amount):
        raise InvalidInput(
            f"The charge has {left} cents left to refund",
            code="refund_exceeds_charge",
            details=[{"loc": ["body", "amount_cents"], "refundable_cents": max(left, 0)}],
        )
    refund = Refund(
        id=uuid.uuid4(),
        account_id=account_id,
        order_id=order.id,
        charge_id=charge.id,
        amount_cents=amount,
        reason=data.reason,
        status="pending",
    )
    session.add(refund)
    session.flush()
    job = jobs.enqueue(
        session,
        account_id=account_id,
        task=task_names.REFUND,
        arguments={"refund_id": str(refund.id)},
    )
    refund.job_id = job.id
    return refund, job


def list_refunds(
    session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID, page: PageParams
) -> tuple[list[Refund], int]:
    """A page of an order's refunds."""
    order = get_order(session, account_id=account_id, order_id=order_id)
    return repo.list_refunds(session, order.id, page)


def get_order(session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID) -> Order:
    """One of the account's orders, or 404."""
    order = repo.get_order(session, account_id, order_id)
    if order is None:
        raise NotFound("Order not found")
    return order


def order_detail(session: Session, *, account_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
    """An order with its items, bumps, charges, upsells and refunds."""
    order = get_order(session, account_id=account_id, order_id=order_id)
    summary = OrderSummaryOut.model_validate(order).model_dump()
    return OrderOut.model_validate(
        {
            **summary,
            "step_id": order.step_id,
            "contact_id": order.contact_id,
            "billing_address": order.billing_address,
            "cancelled_at": order.cancelled_at,
            "fulfilled_at": order.fulfilled_at,
            **repo.parts_of(session, order.id),
        },
        from_attributes=True,
    )


def list_orders(
    session: Session,
    *,
    account_id: uuid.UUID,
    page: PageParams,
    funnel_id: uuid.UUID | None = None,
    status: str | None = None,
    payment_status: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> tuple[list[Order], int]:
    """A page of the account's orders, filtered."""
    return repo.list_orders(
        session,
        account_id,
        page,
        funnel_id=funnel_id,
        status=status,
        payment_status=payment_status,
        created_from=created_from,
        created_to=created_to,
    )


# Events about a PaymentIntent: whatever they say, the order is settled from a fresh read.
SETTLING_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
        "charge.succeeded",
        "charge.failed",
    }
)


def receive_stripe_event(session: Session, event: Any) -> dict[str, Any]:
    """Store a verified Stripe event once and queue what it calls for.

    A redelivered event changes nothing. An event about a checkout's PaymentIntent queues its
    order's settling; one about a refund queues the refund's sync. The jobs re-read Stripe,
    so events that arrive late or out of order cannot move anything backwards.
    """
    data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    if not repo.store_event(session, data["id"], data["type"], data):
        return {"duplicate": True}
    if data["type"].startswith(disputes.DISPUTE_EVENT_PREFIX):
        disputes.apply_event(session, data)
    job_id = None
    if data["type"] in refunds.REFUND_EVENTS:
        job_id = refunds.on_stripe_event(session, data)
    elif data["type"] in SETTLING_EVENTS:
        job_id = _settle_for_event(session, data)
    repo.mark_event_processed(session, data["id"], utcnow())
    return {"duplicate": False, "job_id": job_id}


def _settle_for_event(session: Session, data: dict[str, Any]) -> str | None:
    """Queue the settling of the order whose checkout PaymentIntent the event is about."""
    obj = data.get("data", {}).get("object", {})
    pi_id = obj.get("payment_intent") if obj.get("object") == "charge" else obj.get("id")
    charge = repo.charge_by_intent(session, pi_id)
    if charge is None or charge.kind != "main":
        return None
    job = jobs.enqueue(
        session,
        account_id=charge.account_id,
        task=task_names.SETTLE_ORDER,
        arguments={"order_id": str(charge.order_id), "stripe_event": data["id"]},
    )
    return str(job.id)


def forget_customer(session: Session, *, account_id: uuid.UUID, contact_id: uuid.UUID) -> int:
    """Erasure: the contact's orders lose their name, address and visitor link; how many.

    Kept for accounting: number, amounts, currency, items, charges and refunds (with their
    Stripe ids), dates, status, and the billing country and state (tax).
    """
    return repo.forget_customer(session, account_id, contact_id)
