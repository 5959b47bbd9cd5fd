"""Two checkout pages posting the same PaymentIntent at once: one order, and a 409 for the other."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from domain.orders.models import Order
from domain.shared.db import unit_of_work
from tests.support.funnels import live_checkout, ok
from tests.support.orders import ADDRESS, CUSTOMER, ORDERS, PI_URL


def test_concurrent_orders_for_one_payment_intent_give_one_order_and_a_409(
    client: Any, tenant: Any, standin: Any
) -> None:
    live = live_checkout(client, tenant.headers)
    cart = {**live["body"], "bump_product_ids": []}
    intent = ok(client.post(PI_URL, json=cart, headers=tenant.headers), 201)
    body = {
        **cart,
        "payment_intent_id": intent["payment_intent_id"],
        "customer": CUSTOMER,
        "billing_address": ADDRESS,
    }
    # Both requests read the PaymentIntent at the same time and answer together, so each
    # checks "no order for it yet" before the other has committed.
    standin.delay_next(2, 0.5, when="after", op="payment_intents.retrieve")
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def post() -> None:
        barrier.wait()
        answers.append(client.post(ORDERS, json=body, headers=tenant.headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202, 409], [r.text for r in answers]
    loser = next(r for r in answers if r.status_code == 409)
    assert loser.json()["code"] == "order_exists"
    assert set(loser.json()) >= {"error", "code"}
    with unit_of_work() as session:
        count = session.scalar(
            select(func.count()).select_from(Order).where(Order.account_id == tenant.account_id)
        )
    assert count == 1
