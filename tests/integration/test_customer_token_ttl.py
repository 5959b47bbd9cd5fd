"""A customer_token answers offers only within a window from the order's creation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from domain.orders.models import Order, OrderUpsell
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent
from domain.shared.settings import get_settings
from tests.support.funnels import ok
from tests.support.orders import ORDERS, offer_funnel, paid_order


@pytest.fixture
def live(client: Any, tenant: Any, standin: Any) -> dict[str, Any]:
    """A live funnel with an order form (+bump), an upsell and a downsell."""
    return offer_funnel(client, tenant.headers)


def _age(order_id: str, minutes: float) -> None:
    """Pretend the order was created `minutes` ago."""
    with unit_of_work() as session:
        session.execute(
            update(Order)
            .where(Order.id == uuid.UUID(order_id))
            .values(created_at=func.now() - timedelta(minutes=minutes))
        )


def _upsell_rows(order_id: str) -> int:
    with unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OrderUpsell)
                .where(OrderUpsell.order_id == uuid.UUID(order_id))
            )
            or 0
        )


def _events(order_id: str) -> int:
    with unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(DomainEvent)
                .where(DomainEvent.subject_id == uuid.UUID(order_id))
            )
            or 0
        )


def test_the_default_window_is_an_hour() -> None:
    assert get_settings().customer_token_ttl_minutes == 60


def test_a_token_past_its_window_answers_nothing(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    ttl = get_settings().customer_token_ttl_minutes
    _age(order["id"], ttl + 1)
    events_before = _events(order["id"])
    pk = {"X-Publishable-Key": tenant.publishable_key}
    url = f"{ORDERS}/{order['id']}/upsells"
    for decision in ("accept", "decline"):
        body = {
            "step_id": live["steps"]["upsell"]["id"],
            "decision": decision,
            "customer_token": order["customer_token"],
        }
        r = client.post(url, json=body, headers=pk)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "customer_token_expired"
    bump = {"product_id": live["steps"]["order_form"]["bump_product_ids"][0]}
    r = client.post(
        f"{ORDERS}/{order['id']}/bumps",
        json={**bump, "customer_token": order["customer_token"]},
        headers=pk,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "customer_token_expired"
    assert _upsell_rows(order["id"]) == 0
    assert _events(order["id"]) == events_before
    assert standin.count("payment_intents.create") == 1  # the checkout's only
    # A wrong token past the window is still just a wrong token.
    body = {"step_id": live["steps"]["upsell"]["id"], "decision": "accept", "customer_token": "x"}
    r = client.post(url, json=body, headers=pk)
    assert r.json()["code"] == "invalid_customer_token"


def test_a_buyer_lingering_inside_the_window_still_answers(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    _age(order["id"], get_settings().customer_token_ttl_minutes - 1)
    body = {
        "step_id": live["steps"]["upsell"]["id"],
        "decision": "decline",
        "customer_token": order["customer_token"],
    }
    pk = {"X-Publishable-Key": tenant.publishable_key}
    answer = ok(client.post(f"{ORDERS}/{order['id']}/upsells", json=body, headers=pk), 201)
    assert answer["decision"] == "declined"


def test_the_merchant_answers_for_the_buyer_after_the_window(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    _age(order["id"], 24 * 60)
    body = {"step_id": live["steps"]["upsell"]["id"], "decision": "decline"}
    r = client.post(f"{ORDERS}/{order['id']}/upsells", json=body, headers=tenant.headers)
    assert ok(r, 201)["decision"] == "declined"
