"""Every query of orders and payments."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.orders.models import Order, OrderBump, OrderCharge, OrderCounter, OrderItem
from domain.orders.pricing import PricedCart


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


def add_order(session: Session, order: Order, charge: OrderCharge, cart: PricedCart) -> None:
    """Store a new order with its lines, its bumps and its main charge."""
    session.add(order)
    session.flush()
    for item in cart.items:
        session.add(
            OrderItem(
                id=uuid.uuid4(),
                account_id=order.account_id,
                order_id=order.id,
                product_id=item.product_id,
                kind=item.kind,
                name=item.name,
                unit_price_cents=item.unit_price_cents,
                quantity=item.quantity,
            )
        )
        if item.kind == "bump":
            session.add(
                OrderBump(
                    id=uuid.uuid4(),
                    account_id=order.account_id,
                    order_id=order.id,
                    product_id=item.product_id,
                    price_cents=item.unit_price_cents,
                )
            )
    session.add(charge)
    session.flush()


def charge_by_intent(session: Session, payment_intent_id: str) -> OrderCharge | None:
    """The charge of a PaymentIntent, if an order has it."""
    return session.scalar(
        select(OrderCharge).where(OrderCharge.stripe_payment_intent_id == payment_intent_id)
    )


def order_for_update(session: Session, order_id: uuid.UUID) -> Order | None:
    """An order, locked until the transaction ends (settling it is one writer at a time)."""
    return session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def main_charge(session: Session, order_id: uuid.UUID) -> OrderCharge | None:
    """The order's checkout PaymentIntent."""
    return session.scalar(
        select(OrderCharge).where(OrderCharge.order_id == order_id, OrderCharge.kind == "main")
    )
