"""Checkouts through the API for order tests: a live funnel with offers, orders, settling."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from domain.orders import offers
from domain.orders import service as orders
from domain.orders.models import OrderCharge
from domain.orders.stripe_gateway import gateway
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent
from tests.support.funnels import FUNNELS, live_checkout, ok, page, product

PI_URL = "/api/v1/orders/payment-intent"
ORDERS = "/api/v1/orders"
CUSTOMER = {"email": "Buyer@Example.com", "first_name": "Ada", "last_name": "Lovelace"}
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def offer_funnel(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    """A live funnel: opt-in, order form (+1 bump), upsell, downsell, thanks."""
    live = live_checkout(client, headers)
    funnel_id = live["funnel"]["id"]
    ok(client.patch(f"{FUNNELS}/{funnel_id}", json={"status": "paused"}, headers=headers))
    downsell = {
        "name": "Downsell",
        "step_type": "downsell",
        "page_id": page(client, headers, "Downsell"),
        "product_id": product(client, headers, "Lite", 1900),
        "position": 3,
    }
    ok(client.post(f"{FUNNELS}/{funnel_id}/steps", json=downsell, headers=headers), 201)
    funnel = ok(client.patch(f"{FUNNELS}/{funnel_id}", json={"status": "active"}, headers=headers))
    steps = {s["step_type"]: s for s in funnel["steps"]}
    return {**live, "funnel": funnel, "steps": steps}


def place_order(
    client: Any, headers: dict[str, str], live: dict[str, Any], bumps: list[str] | None = None
) -> dict[str, Any]:
    """Open a PaymentIntent for the order form and create its order (202): the order body."""
    cart = {**live["body"], "bump_product_ids": bumps or []}
    intent = ok(client.post(PI_URL, json=cart, headers=headers), 201)
    body = {
        **cart,
        "payment_intent_id": intent["payment_intent_id"],
        "customer": CUSTOMER,
        "billing_address": ADDRESS,
    }
    return ok(client.post(ORDERS, json=body, headers=headers), 202)  # type: ignore[no-any-return]


def settle(order_id: str) -> dict[str, Any]:
    """Run the settling job's body for an order."""
    with unit_of_work() as session:
        return orders.settle_order(session, order_id=uuid.UUID(order_id), gateway=gateway())


def charge_upsell(upsell_id: str) -> dict[str, Any]:
    """Run the upsell charging job's body."""
    with unit_of_work() as session:
        return offers.charge_upsell(session, upsell_id=uuid.UUID(upsell_id), gateway=gateway())


def paid_order(client: Any, headers: dict[str, str], live: dict[str, Any], standin: Any) -> Any:
    """An order whose buyer paid with a card that can be charged again off-session."""
    order = place_order(client, headers, live)
    standin.confirm_as_browser(order["payment_intent_id"])
    assert settle(order["id"]) == {"status": "paid"}
    return order


def charges(order_id: str) -> list[OrderCharge]:
    """An order's charges, oldest first."""
    with unit_of_work() as session:
        stmt = select(OrderCharge).where(OrderCharge.order_id == uuid.UUID(order_id))
        return list(session.scalars(stmt.order_by(OrderCharge.created_at, OrderCharge.id)))


def event_types(subject_id: str) -> list[str]:
    """The domain events about an order, oldest first."""
    with unit_of_work() as session:
        rows = session.scalars(
            select(DomainEvent.type)
            .where(DomainEvent.subject_id == uuid.UUID(subject_id))
            .order_by(DomainEvent.id)
        )
        return list(rows)


def event_payload(subject_id: str, type_: str) -> dict[str, Any]:
    """The payload of the latest domain event of one type about an order."""
    with unit_of_work() as session:
        payload = session.scalar(
            select(DomainEvent.payload)
            .where(DomainEvent.subject_id == uuid.UUID(subject_id), DomainEvent.type == type_)
            .order_by(DomainEvent.id.desc())
            .limit(1)
        )
        assert payload is not None, f"no {type_} event"
        return dict(payload)
