"""Disputes: Stripe's `charge.dispute.*` events recorded on our charge, each applied once.

Redeliveries stop at the Stripe inbox (one row per event id). Events of one dispute may
arrive in any order, so only forward moves apply: a closed dispute (won, lost, ...) never
changes again, and among open statuses an event older (by Stripe's clock) than the last one
applied is ignored. A dispute is recorded from whichever of its events comes first, with
`charge.dispute_created` then, and `charge.dispute_closed` when it first reaches a final
status. Lost disputes count against revenue in orders analytics on the day they closed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy.orm import Session

from domain.orders import dispute_repository as repo
from domain.orders.models import DISPUTE_CLOSED_STATUSES, Dispute, DisputeStatus
from domain.shared import events

log = logging.getLogger(__name__)

DISPUTE_EVENT_PREFIX = "charge.dispute."


def _event(session: Session, dispute: Dispute, type_: str) -> None:
    """A domain event about a dispute, filed under its order (like the order's own events)."""
    events.record(
        session,
        account_id=dispute.account_id,
        type=type_,
        subject_id=dispute.order_id,
        payload={
            "order_id": str(dispute.order_id),
            "charge_id": str(dispute.charge_id),
            "dispute_id": dispute.stripe_dispute_id,  # what the merchant finds at Stripe
            "amount_cents": dispute.amount_cents,
            "currency": dispute.currency,
            "reason": dispute.reason,
            "status": dispute.status,
        },
    )


def _is_newer(dispute: Dispute, status: str, at: datetime) -> bool:
    """Whether an event (status, Stripe time) moves the stored dispute forward."""
    if dispute.status in DISPUTE_CLOSED_STATUSES:
        return False
    return status in DISPUTE_CLOSED_STATUSES or at >= dispute.last_event_at


def apply_event(session: Session, event: dict[str, Any]) -> Dispute | None:
    """Apply a stored `charge.dispute.*` event; None when it concerns none of our charges."""
    obj = event.get("data", {}).get("object", {})
    status = obj.get("status")
    if obj.get("object") != "dispute" or not obj.get("id"):
        return None
    if status not in get_args(DisputeStatus):
        log.warning("dispute %s: unknown status %r, event %s left", obj["id"], status, event["id"])
        return None
    charge = repo.charge_disputed(
        session, payment_intent_id=obj.get("payment_intent"), stripe_charge_id=obj.get("charge")
    )
    if charge is None:
        return None
    at = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    closed = status in DISPUTE_CLOSED_STATUSES
    fields = {
        "amount_cents": int(obj.get("amount") or 0),
        "currency": str(obj.get("currency") or charge.currency).upper(),
        "reason": obj.get("reason"),
        "status": status,
        "last_event_at": at,
        "closed_at": at if closed else None,
    }
    is_new = repo.insert_dispute(
        session,
        {
            "account_id": charge.account_id,
            "order_id": charge.order_id,
            "charge_id": charge.id,
            "stripe_dispute_id": obj["id"],
            **fields,
        },
    )
    dispute = repo.dispute_for_update(session, obj["id"])
    assert dispute is not None
    if is_new:
        _event(session, dispute, "charge.dispute_created")
    elif _is_newer(dispute, status, at):
        for name, value in fields.items():
            setattr(dispute, name, value)
    else:
        return dispute
    if closed:
        _event(session, dispute, "charge.dispute_closed")
    session.flush()
    return dispute
