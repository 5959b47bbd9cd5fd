"""Orders: checkout, settling, list and detail, webhook, cancel, complete and refunds.

Task bodies are called directly; one test runs a real worker.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from domain.orders import refunds
from domain.orders import service as orders
from domain.orders.models import Order, OrderBump, OrderCharge, OrderItem, StripeEvent
from domain.orders.stripe_gateway import gateway
from domain.shared.db import unit_of_work
from tests.support.funnels import live_checkout, ok
from tests.support.jobs import load_job
from tests.support.orders import ADDRESS, CUSTOMER, ORDERS, PI_URL, event_types, settle
from tests.support.worker import CeleryWorker


@pytest.fixture
def checkout(client: Any, tenant: Any, standin: Any) -> dict[str, Any]:
    """A live order form and a PaymentIntent opened for it with its bump."""
    live = live_checkout(client, tenant.headers)
    cart = {**live["body"], "bump_product_ids": live["order"]["bump_product_ids"]}
    intent = ok(client.post(PI_URL, json=cart, headers=tenant.headers), 201)
    return {**live, "cart": cart, "intent": intent}


def _order_body(checkout: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        **checkout["cart"],
        "payment_intent_id": checkout["intent"]["payment_intent_id"],
        "customer": CUSTOMER,
        "billing_address": ADDRESS,
        **extra,
    }


def _order(order_id: str) -> tuple[Order, OrderCharge]:
    with unit_of_work() as session:
        order = session.get(Order, uuid.UUID(order_id))
        charge = session.scalar(select(OrderCharge).where(OrderCharge.order_id == order.id))  # type: ignore[union-attr]
        assert order is not None
        assert charge is not None
        return order, charge


def test_an_order_is_created_awaiting_payment(client: Any, tenant: Any, checkout: Any) -> None:
    r = client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers)
    body = ok(r, 202)
    assert body["status"] == "awaiting_payment"
    assert body["payment_status"] == "unpaid"
    assert body["total_cents"] == checkout["intent"]["total_cents"]
    assert body["number"] == 1
    assert len(body["customer_token"]) >= 32
    assert r.headers["Location"] == f"/api/v1/jobs/{body['job_id']}"
    job = load_job(uuid.UUID(body["job_id"]))
    assert job.task == "payments.settle_order"
    with unit_of_work() as session:
        order = session.get(Order, uuid.UUID(body["id"]))
        assert order is not None
        assert order.customer_email == "buyer@example.com"
        assert order.customer_name == "Ada Lovelace"
        assert order.billing_address["country"] == "US"
        assert order.customer_token_hash != body["customer_token"]
        kinds = session.scalars(select(OrderItem.kind).where(OrderItem.order_id == order.id))
        assert sorted(kinds) == ["bump", "main"]
        bumps = session.scalars(select(OrderBump).where(OrderBump.order_id == order.id)).all()
        assert len(bumps) == 1
    contacts = ok(
        client.get("/api/v1/contacts", params={"search": "buyer@"}, headers=tenant.headers)
    )
    assert contacts["total"] == 1
    assert event_types(body["id"]) == ["order.created"]


def test_settling_marks_the_order_paid_once(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    with pytest.raises(orders.NotSettledYet):
        settle(body["id"])  # the buyer has not confirmed yet
    standin.confirm_as_browser(body["payment_intent_id"])
    assert settle(body["id"]) == {"status": "paid"}
    order, charge = _order(body["id"])
    assert order.payment_status == "paid"
    assert order.paid_at is not None
    assert order.stripe_payment_method_id is not None
    assert charge.captured_cents == order.total_cents
    assert charge.stripe_charge_id is not None
    assert settle(body["id"]) == {"status": "paid"}  # again: nothing changes
    assert event_types(body["id"]) == ["order.created", "order.paid"]
    assert len(standin.charges_for(body["payment_intent_id"])) == 1


def test_a_declined_card_fails_the_order(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    standin.confirm_as_browser(body["payment_intent_id"], "pm_card_chargeDeclined")
    assert settle(body["id"]) == {"status": "payment_failed"}
    order, charge = _order(body["id"])
    assert order.payment_status == "failed"
    assert charge.failure_code == "generic_decline"
    assert event_types(body["id"]) == ["order.created", "order.payment_failed"]


def test_one_order_per_payment_intent(client: Any, tenant: Any, checkout: Any) -> None:
    ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    r = client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "order_exists"


def test_the_intent_must_fit_the_cart(
    client: Any, tenant: Any, other_tenant: Any, checkout: Any
) -> None:
    without_bump = _order_body(checkout, bump_product_ids=[])
    r = client.post(ORDERS, json=without_bump, headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "payment_intent_mismatch"
    # Another account cannot claim this PaymentIntent for its own checkout.
    theirs = live_checkout(client, other_tenant.headers)
    stolen = {**_order_body(checkout), **theirs["body"], "bump_product_ids": []}
    r = client.post(ORDERS, json=stolen, headers=other_tenant.headers)
    assert r.status_code == 409
    with unit_of_work() as session:
        assert (
            session.scalar(select(Order).where(Order.account_id == other_tenant.account_id)) is None
        )


def test_the_checkout_page_orders_with_the_publishable_key(
    client: Any, tenant: Any, checkout: Any
) -> None:
    body = _order_body(checkout, key=tenant.publishable_key)
    created = ok(client.post(ORDERS, json=body), 202)
    assert created["number"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"customer": {"email": "not-an-email"}},
        {"payment_intent_id": "nope"},
        {"billing_address": {**ADDRESS, "country": "usa"}},
        {"total_cents": 1},
        {"customer": None},
    ],
    ids=["email", "intent id", "country", "price", "no customer"],
)
def test_bad_order_input_is_a_422_and_stores_nothing(
    client: Any, tenant: Any, checkout: Any, change: dict[str, Any]
) -> None:
    r = client.post(ORDERS, json=_order_body(checkout, **change), headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    with unit_of_work() as session:
        assert session.scalar(select(Order).where(Order.account_id == tenant.account_id)) is None


@pytest.mark.pipeline
def test_a_real_worker_settles_the_order(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    # A worker of this test's own: a suite-wide one would race the direct task calls above.
    own_worker = CeleryWorker(dict(os.environ), name="orders")
    own_worker.start()
    try:
        _worker_settles(client, tenant, checkout, standin)
    finally:
        own_worker.stop()


def _worker_settles(client: Any, tenant: Any, checkout: Any, standin: Any) -> None:
    standin.confirm_as_browser(checkout["intent"]["payment_intent_id"])
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    deadline = time.monotonic() + 30
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = ok(client.get(f"/api/v1/jobs/{body['job_id']}", headers=tenant.headers))
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    assert job["result"] == {"status": "paid"}
    order, charge = _order(body["id"])
    assert order.status == "paid"
    assert charge.captured_cents == order.total_cents
    assert len(standin.charges_for(body["payment_intent_id"])) == 1


def test_orders_are_listed_filtered_and_shown_in_full(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    h = tenant.headers
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=h), 202)
    standin.confirm_as_browser(body["payment_intent_id"])
    settle(body["id"])
    listed = ok(client.get(ORDERS, headers=h))
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == body["id"]
    assert "items" not in listed["items"][0]
    for params, total in [
        ({"status": "paid"}, 1),
        ({"status": "awaiting_payment"}, 0),
        ({"payment_status": "paid"}, 1),
        ({"funnel_id": checkout["funnel"]["id"]}, 1),
        ({"funnel_id": str(uuid.uuid4())}, 0),
        ({"created_from": "2000-01-01T00:00:00Z"}, 1),
        ({"created_to": "2000-01-01T00:00:00Z"}, 0),
    ]:
        assert ok(client.get(ORDERS, params=params, headers=h))["total"] == total, params
    detail = ok(client.get(f"{ORDERS}/{body['id']}", headers=h))
    assert detail["status"] == "paid"
    assert sorted(i["kind"] for i in detail["items"]) == ["bump", "main"]
    assert len(detail["bumps"]) == 1
    assert detail["charges"][0]["captured_cents"] == detail["total_cents"]
    assert detail["upsells"] == []
    assert detail["refunds"] == []


def test_another_accounts_order_is_a_404(
    client: Any, tenant: Any, other_tenant: Any, checkout: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    r = client.get(f"{ORDERS}/{body['id']}", headers=other_tenant.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert ok(client.get(ORDERS, headers=other_tenant.headers))["total"] == 0
    # The publishable key does not open management endpoints.
    r = client.get(ORDERS, headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "status=live",
        "payment_status=x",
        "created_from=yesterday",
        "created_from=2020-01-01T00:00:00",
        "funnel_id=1",
        "page_size=101",
    ],
)
def test_bad_list_filters_are_422(client: Any, tenant: Any, query: str) -> None:
    r = client.get(f"{ORDERS}?{query}", headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


WEBHOOK = "/api/v1/orders/stripe/webhook"


def _post_event(
    client: Any, standin: Any, event: dict[str, Any], *, signature: str | None = None
) -> Any:
    payload = json.dumps(event).encode()
    headers = {
        "Stripe-Signature": signature or standin.sign(payload),
        "Content-Type": "application/json",
    }
    return client.post(WEBHOOK, content=payload, headers=headers)


def _inbox(event_id: str) -> StripeEvent | None:
    with unit_of_work() as session:
        return session.get(StripeEvent, event_id)


def test_a_signed_event_is_stored_once_and_settles_its_order(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    standin.confirm_as_browser(body["payment_intent_id"])
    event = standin.make_event("payment_intent.succeeded", body["payment_intent_id"])
    first = ok(_post_event(client, standin, event))
    assert first["duplicate"] is False
    job = load_job(uuid.UUID(first["job_id"]))
    assert job.task == "payments.settle_order"
    assert job.arguments["order_id"] == body["id"]
    stored = _inbox(event["id"])
    assert stored is not None
    assert stored.processed_at is not None
    again = ok(_post_event(client, standin, event))
    assert again == {"duplicate": True, "job_id": None}
    # Settling reads the PaymentIntent: the order ends paid, however often it is told.
    assert settle(body["id"]) == {"status": "paid"}
    assert settle(body["id"]) == {"status": "paid"}


def test_a_late_failure_event_cannot_unpay_an_order(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    standin.confirm_as_browser(body["payment_intent_id"])
    settle(body["id"])
    stale = standin.make_event("payment_intent.payment_failed", body["payment_intent_id"])
    ok(_post_event(client, standin, stale))
    # Right after the webhook, before anything settles again: still paid, nothing failed.
    order, charge = _order(body["id"])
    assert (order.status, order.payment_status, charge.status) == ("paid", "paid", "succeeded")
    assert "order.payment_failed" not in event_types(body["id"])
    # The settling the event queued reads the PaymentIntent and leaves the order paid.
    assert settle(body["id"]) == {"status": "paid"}
    order, _ = _order(body["id"])
    assert order.payment_status == "paid"
    assert event_types(body["id"]).count("order.paid") == 1


@pytest.mark.parametrize("bad", ["tampered", "stale", "missing", "other secret"])
def test_a_bad_signature_is_a_400_and_stores_nothing(client: Any, standin: Any, bad: str) -> None:
    event = standin.make_event(
        "payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"}
    )
    payload = json.dumps(event).encode()
    signature = {
        "tampered": standin.sign(payload + b" "),
        "stale": standin.sign(payload, timestamp=1_000_000_000),
        "missing": "",
        "other secret": standin.sign(payload, secret="whsec_other"),
    }[bad]
    r = client.post(WEBHOOK, content=payload, headers={"Stripe-Signature": signature})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_signature"
    assert _inbox(event["id"]) is None


def test_events_about_unknown_intents_are_stored_and_ignored(client: Any, standin: Any) -> None:
    event = standin.make_event(
        "payment_intent.succeeded", {"id": "pi_elsewhere", "object": "payment_intent"}
    )
    assert ok(_post_event(client, standin, event)) == {"duplicate": False, "job_id": None}
    assert _inbox(event["id"]) is not None
    garbage = client.post(
        WEBHOOK, content=b"{not json", headers={"Stripe-Signature": standin.sign(b"{not json")}
    )
    assert garbage.status_code == 400


def _cancel_job(order_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        return orders.cancel_order(session, order_id=uuid.UUID(order_id), gateway=gateway())


def test_a_declined_buyer_may_pay_with_another_card(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    standin.confirm_as_browser(body["payment_intent_id"], "pm_card_chargeDeclined")
    assert settle(body["id"]) == {"status": "payment_failed"}
    assert settle(body["id"]) == {"status": "payment_failed"}  # no second event
    standin.confirm_as_browser(body["payment_intent_id"], "pm_card_visa")
    assert settle(body["id"]) == {"status": "paid"}
    assert event_types(body["id"]) == ["order.created", "order.payment_failed", "order.paid"]


def test_complete_marks_a_paid_order_fulfilled(
    client: Any, tenant: Any, other_tenant: Any, checkout: Any, standin: Any
) -> None:
    h = tenant.headers
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=h), 202)
    url = f"{ORDERS}/{body['id']}/complete"
    r = client.post(url, headers=h)
    assert r.status_code == 409
    assert r.json()["code"] == "order_not_paid"
    standin.confirm_as_browser(body["payment_intent_id"])
    settle(body["id"])
    assert client.post(url, headers=other_tenant.headers).status_code == 404
    done = ok(client.post(url, headers=h))
    assert done["status"] == "fulfilled"
    assert done["fulfilled_at"] is not None
    assert ok(client.post(url, headers=h))["fulfilled_at"] == done["fulfilled_at"]
    assert event_types(body["id"]) == ["order.created", "order.paid", "order.fulfilled"]


def test_cancel_cancels_an_unpaid_order_and_its_intent(
    client: Any, tenant: Any, other_tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    url = f"{ORDERS}/{body['id']}/cancel"
    assert client.post(url, headers=other_tenant.headers).status_code == 404
    r = client.post(url, headers=tenant.headers)
    accepted = ok(r, 202)
    assert r.headers["Location"] == f"/api/v1/jobs/{accepted['job_id']}"
    assert load_job(uuid.UUID(accepted["job_id"])).task == "payments.cancel_order"
    assert _cancel_job(body["id"]) == {"status": "cancelled"}
    assert standin.payment_intent(body["payment_intent_id"])["status"] == "canceled"
    assert _cancel_job(body["id"]) == {"status": "cancelled"}  # again: nothing changes
    assert event_types(body["id"]) == ["order.created", "order.cancelled"]
    r = client.post(url, headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "order_not_cancellable"


def test_a_buyer_who_paid_before_the_cancel_ran_keeps_the_order(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    # The buyer pays; the order is not settled yet when the cancel is asked for. (A live
    # suite worker may run the cancel job too: either way it must end paid.)
    standin.confirm_as_browser(body["payment_intent_id"])
    ok(client.post(f"{ORDERS}/{body['id']}/cancel", headers=tenant.headers), 202)
    assert _cancel_job(body["id"]) == {"status": "paid"}
    assert len(standin.charges_for(body["payment_intent_id"])) == 1
    r = client.post(f"{ORDERS}/{body['id']}/cancel", headers=tenant.headers)
    assert r.status_code == 409


def _paid(client: Any, tenant: Any, checkout: Any, standin: Any) -> dict[str, Any]:
    body = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    standin.confirm_as_browser(body["payment_intent_id"])
    assert settle(body["id"]) == {"status": "paid"}
    return body


def _run_refund(refund_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        return refunds.execute_refund(session, refund_id=uuid.UUID(refund_id), gateway=gateway())


def test_partial_then_full_refund(client: Any, tenant: Any, checkout: Any, standin: Any) -> None:
    h = tenant.headers
    order = _paid(client, tenant, checkout, standin)
    url = f"{ORDERS}/{order['id']}/refunds"
    r = client.post(url, json={"amount_cents": 1000, "reason": "damaged"}, headers=h)
    first = ok(r, 202)
    assert r.headers["Location"] == f"/api/v1/jobs/{first['job_id']}"
    assert first["status"] == "pending"
    assert _run_refund(first["id"]) == {"status": "succeeded"}
    assert _run_refund(first["id"]) == {"status": "succeeded"}  # again: no second refund
    detail = ok(client.get(f"{ORDERS}/{order['id']}", headers=h))
    assert detail["payment_status"] == "partially_refunded"
    rest = ok(client.post(url, json={}, headers=h), 202)
    assert rest["amount_cents"] == order["total_cents"] - 1000
    _run_refund(rest["id"])
    detail = ok(client.get(f"{ORDERS}/{order['id']}", headers=h))
    assert detail["payment_status"] == "refunded"
    assert detail["charges"][0]["refunded_cents"] == order["total_cents"]
    customer = standin.payment_intent(order["payment_intent_id"])["customer"]
    assert standin.refunded_for_customer(customer) == order["total_cents"]
    listed = ok(client.get(url, headers=h))
    assert [x["id"] for x in listed["items"]] == [rest["id"], first["id"]]
    more = client.post(url, json={"amount_cents": 1}, headers=h)
    assert more.status_code == 422
    assert more.json()["code"] == "refund_exceeds_charge"
    assert event_types(order["id"]).count("order.refunded") == 2


def test_concurrent_refunds_never_exceed_the_charge(
    app: Any, client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    order = _paid(client, tenant, checkout, standin)
    share = order["total_cents"] * 3 // 10
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def refund() -> None:
        with TestClient(app) as own:
            barrier.wait()
            r = own.post(
                f"{ORDERS}/{order['id']}/refunds",
                json={"amount_cents": share},
                headers=tenant.headers,
            )
            codes.append(r.status_code)

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202] * 3 + [422] * 5
    _, charge = _order(order["id"])
    assert charge.refunded_cents == 3 * share


def test_refunds_need_a_paid_order_and_stay_in_the_account(
    client: Any, tenant: Any, other_tenant: Any, checkout: Any, standin: Any
) -> None:
    unpaid = ok(client.post(ORDERS, json=_order_body(checkout), headers=tenant.headers), 202)
    r = client.post(f"{ORDERS}/{unpaid['id']}/refunds", json={}, headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "order_not_paid"
    standin.confirm_as_browser(unpaid["payment_intent_id"])
    settle(unpaid["id"])
    for method, body in [("POST", {}), ("GET", None)]:
        r = client.request(
            method, f"{ORDERS}/{unpaid['id']}/refunds", json=body, headers=other_tenant.headers
        )
        assert r.status_code == 404
    r = client.post(
        f"{ORDERS}/{unpaid['id']}/refunds",
        json={"charge_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert r.status_code == 404
    for bad in [
        {"amount_cents": 0},
        {"amount_cents": -5},
        {"amount_cents": "10"},
        {"reason": "x" * 501},
    ]:
        r = client.post(f"{ORDERS}/{unpaid['id']}/refunds", json=bad, headers=tenant.headers)
        assert r.status_code == 422, bad
    _, charge = _order(unpaid["id"])
    assert charge.refunded_cents == 0


def test_a_refund_stripe_refuses_gives_the_amount_back(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    order = _paid(client, tenant, checkout, standin)
    accepted = ok(
        client.post(
            f"{ORDERS}/{order['id']}/refunds", json={"amount_cents": 500}, headers=tenant.headers
        ),
        202,
    )
    standin.fail_next(
        1, 400, op="refunds.create", error_type="invalid_request_error", code="charge_disputed"
    )
    assert _run_refund(accepted["id"]) == {"status": "failed"}
    _, charge = _order(order["id"])
    assert charge.refunded_cents == 0
    listed = ok(client.get(f"{ORDERS}/{order['id']}/refunds", headers=tenant.headers))
    assert listed["items"][0]["status"] == "failed"
    assert listed["items"][0]["failure_reason"]


def test_a_refund_with_an_idempotency_key_is_made_once(
    client: Any, tenant: Any, checkout: Any, standin: Any
) -> None:
    order = _paid(client, tenant, checkout, standin)
    headers = {**tenant.headers, "Idempotency-Key": f"refund-{uuid.uuid4()}"}
    url = f"{ORDERS}/{order['id']}/refunds"
    first = client.post(url, json={"amount_cents": 700}, headers=headers)
    again = client.post(url, json={"amount_cents": 700}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert ok(client.get(url, headers=tenant.headers))["total"] == 1
