"""Every query of orders and payments."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.jobs import service as jobs
from domain.orders.models import (
    Order,
    OrderBump,
    OrderCharge,
    OrderCounter,
    OrderItem,
    OrderUpsell,
    Refund,
    StripeEvent,
)
from domain.orders.pricing import PricedCart, PricedItem
from domain.shared.db import flush_or_conflict, paginate
from domain.shared.schemas import PageParams


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
    """Store a new order with its lines, its bumps and its main charge.

    Two checkouts posting one PaymentIntent at once both pass the "no order yet" check; the
    charge's unique PaymentIntent decides, and the loser gets 409 `order_exists`.
    """
    session.add(order)
    session.flush()
    for item in cart.items:
        add_item(session, order, item)
    session.flush()
    # Only the charge in the savepoint: its unique PaymentIntent is the conflict meant here.
    session.add(charge)
    flush_or_conflict(session, "An order exists for this PaymentIntent", "order_exists")


def add_item(session: Session, order: Order, item: PricedItem) -> None:
    """Add a priced line to an order (a bump also gets its order_bumps row)."""
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


def bump_product_ids(session: Session, order_id: uuid.UUID) -> list[uuid.UUID]:
    """The products of an order's bumps, in the order they were added."""
    stmt = select(OrderBump.product_id).where(OrderBump.order_id == order_id)
    return list(session.scalars(stmt.order_by(OrderBump.created_at, OrderBump.id)))


def upsell_of(session: Session, order_id: uuid.UUID, step_id: uuid.UUID) -> OrderUpsell | None:
    """The order's answer to an offer step, if given."""
    return session.scalar(
        select(OrderUpsell).where(OrderUpsell.order_id == order_id, OrderUpsell.step_id == step_id)
    )


def upsells_awaiting_charge(session: Session, order_id: uuid.UUID) -> list[uuid.UUID]:
    """The order's accepted upsells whose charge is still pending."""
    return list(
        session.scalars(
            select(OrderUpsell.id)
            .join(OrderCharge, OrderCharge.id == OrderUpsell.charge_id)
            .where(OrderUpsell.order_id == order_id, OrderCharge.status == "pending")
        )
    )


def upsell_for_update(session: Session, upsell_id: uuid.UUID) -> OrderUpsell | None:
    """An upsell answer, locked until the transaction ends."""
    return session.scalar(
        select(OrderUpsell)
        .where(OrderUpsell.id == upsell_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


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


def get_order(session: Session, account_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
    """One of the account's orders."""
    return session.scalar(select(Order).where(Order.id == order_id, Order.account_id == account_id))


def list_orders(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    funnel_id: uuid.UUID | None,
    status: str | None,
    payment_status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> tuple[list[Order], int]:
    """The account's orders, newest first."""
    stmt = select(Order).where(Order.account_id == account_id)
    if funnel_id is not None:
        stmt = stmt.where(Order.funnel_id == funnel_id)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if payment_status is not None:
        stmt = stmt.where(Order.payment_status == payment_status)
    if created_from is not None:
        stmt = stmt.where(Order.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Order.created_at < created_to)
    return paginate(session, stmt.order_by(Order.created_at.desc(), Order.id), page)


def parts_of(session: Session, order_id: uuid.UUID) -> dict[str, list[Any]]:
    """An order's items, bumps, charges, upsells and refunds, each oldest first."""
    parts: dict[str, list[Any]] = {}
    for name, model in (
        ("items", OrderItem),
        ("bumps", OrderBump),
        ("charges", OrderCharge),
        ("upsells", OrderUpsell),
        ("refunds", Refund),
    ):
        parts[name] = list(
            session.scalars(
                select(model).where(model.order_id == order_id).order_by(model.created_at, model.id)
            )
        )
    return parts


def store_event(session: Session, event_id: str, type_: str, payload: dict[str, Any]) -> bool:
    """Put a Stripe event in the inbox; False when it was there already (a redelivery)."""
    stmt = (
        insert(StripeEvent)
        .values(id=event_id, type=type_, payload=payload)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    return session.execute(stmt).first() is not None


def mark_event_processed(session: Session, event_id: str, now: datetime) -> None:
    """Record that an inbox event was acted on."""
    session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(processed_at=now))


def charge_of_order(
    session: Session, order_id: uuid.UUID, charge_id: uuid.UUID | None
) -> OrderCharge | None:
    """A charge of the order (its checkout charge when charge_id is None)."""
    stmt = select(OrderCharge).where(OrderCharge.order_id == order_id)
    stmt = stmt.where(
        OrderCharge.kind == "main" if charge_id is None else OrderCharge.id == charge_id
    )
    return session.scalar(stmt)


def lock_expired_orders(
    session: Session,
    *,
    now: datetime,
    statuses: tuple[str, ...],
    limit: int,
    account_ids: Collection[uuid.UUID] | None = None,
) -> list[Order]:
    """Orders in one of statuses whose expiry has come, locked (SKIP LOCKED: others are busy)."""
    stmt = select(Order).where(
        Order.expires_at.is_not(None), Order.expires_at <= now, Order.status.in_(statuses)
    )
    if account_ids is not None:
        stmt = stmt.where(Order.account_id.in_(account_ids))
    stmt = stmt.order_by(Order.expires_at).limit(limit).with_for_update(skip_locked=True)
    return list(session.scalars(stmt).all())


def stuck(
    session: Session, *, expiring: tuple[str, ...], account_ids: Collection[uuid.UUID] | None = None
) -> list[tuple[str, uuid.UUID, str]]:
    """Money objects in a pending state that nothing will move: (table, id, status).

    A pending refund or upsell charge needs an unfinished job; an open order needs an
    unfinished job about it, or (in one of `expiring`) an expiry time for the sweep.
    """
    queries = [
        (
            select(literal("refunds"), Refund.id, Refund.status).where(
                Refund.status == "pending", ~jobs.unfinished(Refund.job_id)
            ),
            Refund.account_id,
        ),
        (
            select(literal("order_charges"), OrderCharge.id, OrderCharge.status)
            .join(OrderUpsell, OrderUpsell.charge_id == OrderCharge.id)
            .where(OrderCharge.status == "pending", ~jobs.unfinished(OrderUpsell.job_id)),
            OrderCharge.account_id,
        ),
        (
            select(literal("orders"), Order.id, Order.status).where(
                Order.status.in_(("awaiting_payment", "processing", "payment_failed")),
                ~jobs.unfinished_about("order_id", Order.id),
                or_(Order.expires_at.is_(None), Order.status.not_in(expiring)),
            ),
            Order.account_id,
        ),
    ]
    rows: list[tuple[str, uuid.UUID, str]] = []
    for query, account in queries:
        if account_ids is not None:
            query = query.where(account.in_(account_ids))
        rows += [(str(t), i, str(st)) for t, i, st in session.execute(query).all()]
    return rows


def refund_by_stripe_id(session: Session, stripe_refund_id: str) -> Refund | None:
    """Our refund that Stripe knows by this id."""
    return session.scalar(select(Refund).where(Refund.stripe_refund_id == stripe_refund_id))


def refund_for_update(session: Session, refund_id: uuid.UUID) -> Refund | None:
    """A refund, locked until the transaction ends."""
    return session.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def money_of(session: Session, order_id: uuid.UUID) -> tuple[int, int]:
    """(captured, refunded by succeeded refunds) over all of an order's charges."""
    captured = session.scalar(
        select(func.coalesce(func.sum(OrderCharge.captured_cents), 0)).where(
            OrderCharge.order_id == order_id
        )
    )
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
            Refund.order_id == order_id, Refund.status == "succeeded"
        )
    )
    return int(captured or 0), int(refunded or 0)


def list_refunds(
    session: Session, order_id: uuid.UUID, page: PageParams
) -> tuple[list[Refund], int]:
    """An order's refunds, newest first."""
    stmt = select(Refund).where(Refund.order_id == order_id)
    return paginate(session, stmt.order_by(Refund.created_at.desc(), Refund.id), page)


# What an erased buyer's orders keep of the billing address: where the sale took place, for
# tax (VAT by country, sales tax by US state or Canadian province). docs/integrations.md.
TAX_ADDRESS_FIELDS = ("country", "state")
ERASED = "[erased]"


def forget_customer(session: Session, account_id: uuid.UUID, contact_id: uuid.UUID) -> int:
    """Take the person out of their orders, keeping what accounting needs; how many orders."""
    kept = func.jsonb_strip_nulls(
        func.jsonb_build_object(
            *[part for name in TAX_ADDRESS_FIELDS for part in (name, Order.billing_address[name])]
        )
    )
    result = session.execute(
        update(Order)
        .where(Order.account_id == account_id, Order.contact_id == contact_id)
        .values(
            customer_email=ERASED,
            customer_name=None,
            billing_address=kept,
            visitor_id=None,
            session_id=None,
            stripe_customer_id=None,
            stripe_payment_method_id=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
