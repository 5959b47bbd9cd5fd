"""Refunds at Stripe: executed once, settled from what Stripe says, never left pending.

A refund is reserved on its charge when it is asked for (service.request_refund). A job then
creates it at Stripe with our key `refund:{id}` and our id in its metadata, and settles it
from Stripe's answer: succeeded, failed (the reservation is released), or pending (the job
looks again later). Stripe can fail a refund after it succeeded; its refund webhooks queue
a sync that applies the change. A retry whose first attempt is older than Stripe remembers
keys first looks the refund up by our id, so it can never refund twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from domain.jobs import service as jobs
from domain.orders import repository as repo
from domain.orders import task_names
from domain.orders.events import order_event
from domain.orders.models import OrderCharge, Refund
from domain.orders.stripe_gateway import RefundState, StripeGateway, past_key_window
from domain.shared.remote import FinalRemoteError, NotYet, RemoteError

log = logging.getLogger(__name__)

# Stripe's events about a refund; each is answered by a fresh read of the refund.
REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
_FAILED = ("failed", "canceled")


def _locked(session: Session, refund_id: uuid.UUID) -> tuple[Refund, OrderCharge] | None:
    refund = repo.refund_for_update(session, refund_id)
    if refund is None:
        return None
    charge = repo.charge_of_order(session, refund.order_id, refund.charge_id)
    assert charge is not None
    assert charge.stripe_payment_intent_id is not None
    return refund, charge


def _find(refund: Refund, charge: OrderCharge, gateway: StripeGateway) -> RefundState | None:
    """The refund at Stripe, found by our id in its metadata."""
    assert charge.stripe_payment_intent_id is not None
    return gateway.find_refund(
        payment_intent=charge.stripe_payment_intent_id,
        metadata_key="refund_id",
        value=str(refund.id),
    )


def execute_refund(
    session: Session,
    *,
    refund_id: uuid.UUID,
    gateway: StripeGateway,
    first_tried_at: datetime | None = None,
) -> dict[str, Any]:
    """Refund at Stripe once and settle from its answer; NotYet while Stripe says pending."""
    found = _locked(session, refund_id)
    if found is None or found[0].status != "pending":
        return {"status": found[0].status if found else "missing"}
    refund, charge = found
    assert charge.stripe_payment_intent_id is not None
    state: RefundState | None = None
    if refund.stripe_refund_id is not None:
        state = gateway.retrieve_refund(refund.stripe_refund_id)
    elif past_key_window(first_tried_at):
        state = _find(refund, charge, gateway)
    if state is None:
        try:
            state = gateway.refund(
                payment_intent=charge.stripe_payment_intent_id,
                amount=refund.amount_cents,
                metadata={"refund_id": str(refund.id), "order_id": str(refund.order_id)},
                key=f"refund:{refund.id}",
            )
        except FinalRemoteError as exc:
            _fail(session, refund, str(exc))
            return {"status": "failed"}
    apply_state(session, refund, state)
    if refund.status == "pending":
        raise NotYet(f"refund {state.status} at Stripe")
    return {"status": refund.status}


def sync_refund(
    session: Session,
    *,
    refund_id: uuid.UUID,
    gateway: StripeGateway,
    stripe_refund_id: str | None = None,
    poll: bool = False,
) -> dict[str, Any]:
    """Apply the refund's state at Stripe now (after a webhook); poll: wait while pending."""
    found = _locked(session, refund_id)
    if found is None:
        return {"status": "missing"}
    refund, charge = found
    stripe_id = refund.stripe_refund_id or stripe_refund_id
    state = gateway.retrieve_refund(stripe_id) if stripe_id else _find(refund, charge, gateway)
    if state is not None:
        apply_state(session, refund, state)
    if poll and refund.status == "pending":
        raise NotYet("refund pending at Stripe")
    return {"status": refund.status}


def apply_state(session: Session, refund: Refund, state: RefundState) -> None:
    """Move our refund to what Stripe says (pending at Stripe: no change)."""
    refund.stripe_refund_id = state.id
    if state.status == "succeeded" and refund.status != "succeeded":
        if refund.status == "failed" and not repo.reserve_refund(
            session, refund.charge_id, refund.amount_cents
        ):
            # Stripe refunded after we had given the amount to another refund: say so loudly.
            log.error("refund %s succeeded at Stripe after it was released", refund.id)
            return
        refund.status, refund.failure_reason = "succeeded", None
        _order_refund_event(session, refund, "order.refunded")
    elif state.status in _FAILED and refund.status != "failed":
        _fail(session, refund, state.failure_reason or f"refund {state.status} at Stripe")


def _fail(session: Session, refund: Refund, reason: str) -> None:
    """The refund is failed and its amount free to refund again."""
    refund.status, refund.failure_reason = "failed", reason[:1000]
    repo.release_refund(session, refund.charge_id, refund.amount_cents)
    _order_refund_event(session, refund, "refund.failed", reason=refund.failure_reason)


def _order_refund_event(session: Session, refund: Refund, type_: str, **extra: Any) -> None:
    """Recompute the order's payment status and record the refund's event."""
    session.flush()
    order = repo.order_for_update(session, refund.order_id)
    assert order is not None
    captured, refunded = repo.money_of(session, order.id)
    if order.payment_status in ("paid", "partially_refunded", "refunded"):
        order.payment_status = (
            "refunded" if refunded >= captured else "partially_refunded" if refunded else "paid"
        )
    order_event(
        session,
        order,
        type_,
        refund_id=str(refund.id),
        charge_id=str(refund.charge_id),
        amount_cents=refund.amount_cents,
        currency=order.currency,
        **extra,
    )
    session.flush()


def give_up(session: Session, *, refund_id: uuid.UUID, gateway: StripeGateway) -> None:
    """The refund job's schedule is spent: end the refund, unless Stripe has it.

    One last look at Stripe: a refund it has (our answer was lost) is settled from it, or
    kept polled while pending; otherwise the refund fails and its amount is free again.
    """
    found = _locked(session, refund_id)
    if found is None or found[0].status != "pending":
        return
    refund, charge = found
    try:
        state = (
            gateway.retrieve_refund(refund.stripe_refund_id)
            if refund.stripe_refund_id
            else _find(refund, charge, gateway)
        )
    except RemoteError:
        state = None
    if state is not None:
        apply_state(session, refund, state)
    if refund.status != "pending":
        return
    if refund.stripe_refund_id is None:
        _fail(session, refund, "the payment provider could not be reached; nothing was refunded")
        return
    # Stripe has the refund and has not decided: keep asking on a schedule of its own.
    job = jobs.enqueue(
        session,
        account_id=refund.account_id,
        task=task_names.SYNC_REFUND,
        arguments={"refund_id": str(refund.id), "poll": True},
    )
    refund.job_id = job.id


def on_stripe_event(session: Session, data: dict[str, Any]) -> str | None:
    """Queue a sync of our refund that a Stripe refund event is about; the job's id."""
    obj = data.get("data", {}).get("object", {})
    refund = repo.refund_by_stripe_id(session, str(obj.get("id")))
    if refund is None:
        ours = (obj.get("metadata") or {}).get("refund_id")
        try:
            refund = repo.refund_for_update(session, uuid.UUID(str(ours))) if ours else None
        except ValueError:
            refund = None
    if refund is None:
        return None
    job = jobs.enqueue(
        session,
        account_id=refund.account_id,
        task=task_names.SYNC_REFUND,
        arguments={"refund_id": str(refund.id), "stripe_refund_id": obj.get("id")},
    )
    return str(job.id)
