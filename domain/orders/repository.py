"""Every query of orders and payments (so far: the ones the money rules rest on)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.orders.models import OrderCharge, OrderCounter


def next_order_number(session: Session, account_id: uuid.UUID) -> int:
    """The account's next order number, taken under its counter's row lock.

    The lock is held until the transaction ends, so concurrent checkouts queue here and the
    numbers come out 1, 2, 3, ... with no duplicates; a rolled-back checkout gives its
    number back, so there are no gaps either.
    """
    stmt = (
        insert(OrderCounter)
        .values(account_id=account_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[OrderCounter.account_id],
            set_={"last_number": OrderCounter.last_number + 1},
        )
        .returning(OrderCounter.last_number)
    )
    number = session.execute(stmt).scalar_one()
    return int(number)


def reserve_refund(session: Session, charge_id: uuid.UUID, amount_cents: int) -> bool:
    """Count amount_cents as refunded from a charge, if it still has that much; False if not.

    One conditional UPDATE: concurrent requests serialize on the row, and the table's CHECK
    (refunded <= captured) backs the condition up.
    """
    result = session.execute(
        update(OrderCharge)
        .where(
            OrderCharge.id == charge_id,
            OrderCharge.refunded_cents + amount_cents <= OrderCharge.captured_cents,
        )
        .values(refunded_cents=OrderCharge.refunded_cents + amount_cents)
        .returning(OrderCharge.id)
    )
    return result.first() is not None


def release_refund(session: Session, charge_id: uuid.UUID, amount_cents: int) -> None:
    """Give back a reservation whose refund failed at Stripe."""
    session.execute(
        update(OrderCharge)
        .where(OrderCharge.id == charge_id)
        .values(refunded_cents=OrderCharge.refunded_cents - amount_cents)
    )
