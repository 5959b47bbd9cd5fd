"""Every query of disputes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.orders.models import Dispute, OrderCharge


def charge_disputed(
    session: Session, *, payment_intent_id: str | None, stripe_charge_id: str | None
) -> OrderCharge | None:
    """Our charge that a Stripe dispute names (by its PaymentIntent, else its charge id)."""
    if not payment_intent_id and not stripe_charge_id:
        return None
    conditions = []
    if payment_intent_id:
        conditions.append(OrderCharge.stripe_payment_intent_id == payment_intent_id)
    if stripe_charge_id:
        conditions.append(OrderCharge.stripe_charge_id == stripe_charge_id)
    return session.scalar(select(OrderCharge).where(or_(*conditions)).limit(1))


def insert_dispute(session: Session, values: dict[str, Any]) -> bool:
    """Record a dispute seen for the first time; False when it is known already."""
    stmt = (
        insert(Dispute)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(index_elements=[Dispute.stripe_dispute_id])
        .returning(Dispute.id)
    )
    return session.execute(stmt).first() is not None


def dispute_for_update(session: Session, stripe_dispute_id: str) -> Dispute | None:
    """A dispute by its Stripe id, locked until the transaction ends (one writer at a time)."""
    return session.scalar(
        select(Dispute)
        .where(Dispute.stripe_dispute_id == stripe_dispute_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
