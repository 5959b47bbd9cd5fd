"""Bumps before payment and one-click upsells after it, charged through the real Stripe client.

Job bodies are called directly here; tests/integration/test_payments_reliability.py runs
them in real workers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.orders import refunds
from domain.orders.stripe_gateway import gateway
from domain.shared.db import unit_of_work
from domain.shared.remote import NotYet, RetryableRemoteError
from tests.support.funnels import ok
from tests.support.orders import (
    ORDERS,
    charge_upsell,
    charges,
    event_payload,
    event_types,
    offer_funnel,
    paid_order,
    place_order,
    settle,
)


@pytest.fixture
def live(client: Any, tenant: Any, standin: Any) -> dict[str, Any]:
    """A live funnel with an order form (+bump), an upsell and a downsell."""
    return offer_funnel(client, tenant.headers)


def _bump_id(live: dict[str, Any]) -> str:
    return live["steps"]["order_form"]["bump_product_ids"][0]  # type: ignore[no-any-return]


def _answer(client: Any, headers: dict[str, str], order_id: str, **body: Any) -> Any:
    return client.post(f"{ORDERS}/{order_id}/upsells", json=body, headers=headers)


def test_a_bump_raises_the_unconfirmed_payment(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = place_order(client, tenant.headers, live)
    url = f"{ORDERS}/{order['id']}/bumps"
    body = ok(client.post(url, json={"product_id": _bump_id(live)}, headers=tenant.headers))
    assert body["total_cents"] == 4900 * 2
    assert [b["product_id"] for b in body["bumps"]] == [_bump_id(live)]
    assert sorted(i["kind"] for i in body["items"]) == ["bump", "main"]
    assert body["charges"][0]["amount_cents"] == 9800
    assert gateway().retrieve(order["payment_intent_id"]).amount == 9800
    # The same bump again (a retry) changes nothing, here or at Stripe.
    again = ok(client.post(url, json={"product_id": _bump_id(live)}, headers=tenant.headers))
    assert again["total_cents"] == 9800
    assert standin.count("payment_intents.update") == 1
    standin.confirm_as_browser(order["payment_intent_id"])
    assert settle(order["id"]) == {"status": "paid"}
    assert charges(order["id"])[0].captured_cents == 9800
    assert "order.bump_added" in event_types(order["id"])


def test_no_bump_once_the_buyer_confirmed(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = place_order(client, tenant.headers, live)
    standin.confirm_as_browser(order["payment_intent_id"])
    url = f"{ORDERS}/{order['id']}/bumps"
    r = client.post(url, json={"product_id": _bump_id(live)}, headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "payment_already_confirmed"
    detail = ok(client.get(f"{ORDERS}/{order['id']}", headers=tenant.headers))
    assert detail["total_cents"] == 4900
    assert detail["bumps"] == []
    # Settled, the order refuses bumps before asking Stripe.
    settle(order["id"])
    r = client.post(url, json={"product_id": _bump_id(live)}, headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "order_not_open"


def test_only_offered_bumps_are_added(client: Any, tenant: Any, live: Any, standin: Any) -> None:
    order = place_order(client, tenant.headers, live)
    url = f"{ORDERS}/{order['id']}/bumps"
    upsell_product = live["steps"]["upsell"]["product_id"]
    r = client.post(url, json={"product_id": upsell_product}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_bumps"
    for bad in ({}, {"product_id": "nope"}, {"product_id": _bump_id(live), "price_cents": 1}):
        assert client.post(url, json=bad, headers=tenant.headers).status_code == 422
    assert gateway().retrieve(order["payment_intent_id"]).amount == 4900
    assert standin.count("payment_intents.update") == 0


def test_a_checkout_page_needs_the_customer_token(
    client: Any, tenant: Any, other_tenant: Any, live: Any, standin: Any
) -> None:
    order = place_order(client, tenant.headers, live)
    url = f"{ORDERS}/{order['id']}/bumps"
    pk = {"X-Publishable-Key": tenant.publishable_key}
    for token in (None, "wrong", order["customer_token"][:-1]):
        body = {"product_id": _bump_id(live), "customer_token": token}
        r = client.post(url, json=body, headers=pk)
        assert r.status_code == 403
        assert r.json()["code"] == "invalid_customer_token"
    # Another account's publishable key does not find the order at all.
    body = {"product_id": _bump_id(live), "customer_token": order["customer_token"]}
    other = {"X-Publishable-Key": other_tenant.publishable_key}
    assert client.post(url, json=body, headers=other).status_code == 404
    assert standin.count("payment_intents.update") == 0
    # With the token (here as the body's `key`), the page adds the bump.
    added = ok(client.post(url, json={**body, "key": tenant.publishable_key}))
    assert added["total_cents"] == 9800


def test_an_accepted_upsell_is_charged_once_on_the_saved_card(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    step = live["steps"]["upsell"]
    r = _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept")
    answer = ok(r, 202)
    assert r.headers["Location"] == f"/api/v1/jobs/{answer['job_id']}"
    assert answer["decision"] == "accepted"
    assert answer["offer_type"] == "upsell"
    assert answer["price_cents"] == 4900
    assert charge_upsell(answer["id"]) == {"status": "succeeded"}
    # The job delivered twice: the second run finds the charge done.
    assert charge_upsell(answer["id"]) == {"status": "succeeded"}
    main, upsell = charges(order["id"])
    assert upsell.kind == "upsell"
    assert upsell.status == "succeeded"
    assert upsell.captured_cents == 4900
    assert upsell.stripe_payment_intent_id is not None
    assert standin.charges_for(upsell.stripe_payment_intent_id)[0]["amount"] == 4900
    assert (
        standin.captured_for_customer(
            standin.payment_intent(main.stripe_payment_intent_id)["customer"]
        )
        == 9800
    )
    detail = ok(client.get(f"{ORDERS}/{order['id']}", headers=tenant.headers))
    assert detail["total_cents"] == 9800
    assert [i["kind"] for i in detail["items"]] == ["main", "upsell"]
    assert detail["upsells"][0]["charge_id"] == str(upsell.id)
    assert event_types(order["id"])[-1] == "upsell.accepted"
    # Revenue facts for analytics come from the server: what was charged, in which funnel step.
    accepted = event_payload(order["id"], "upsell.accepted")
    assert accepted["amount_cents"] == 4900
    assert accepted["step_id"] == step["id"]
    assert accepted["funnel_id"] == live["funnel"]["id"]
    purchase = event_payload(order["id"], "order.paid")
    assert purchase["amount_cents"] == 4900
    assert purchase["step_id"] == live["steps"]["order_form"]["id"]
    assert purchase["contact_id"] is not None
    # The same answer again returns the first; another answer is refused.
    same = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    assert same["id"] == answer["id"]
    assert same["job_id"] is None
    r = _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="decline")
    assert r.status_code == 409
    assert r.json()["code"] == "upsell_already_answered"
    # The upsell's charge refunds on its own: at Stripe, its PaymentIntent gives the money
    # back and the checkout's does not.
    refund = {"charge_id": str(upsell.id), "amount_cents": 1000}
    url = f"{ORDERS}/{order['id']}/refunds"
    accepted = ok(client.post(url, json=refund, headers=tenant.headers), 202)
    with unit_of_work() as session:
        ran = refunds.execute_refund(
            session, refund_id=uuid.UUID(accepted["id"]), gateway=gateway()
        )
    assert ran == {"status": "succeeded"}
    assert standin.charges_for(upsell.stripe_payment_intent_id)[0]["amount_refunded"] == 1000
    assert standin.charges_for(main.stripe_payment_intent_id)[0]["amount_refunded"] == 0
    main, upsell = charges(order["id"])
    assert (main.refunded_cents, upsell.refunded_cents) == (0, 1000)


def test_a_decline_is_recorded_and_charges_nothing(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    for step_type in ("upsell", "downsell"):
        step = live["steps"][step_type]
        r = _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="decline")
        answer = ok(r, 201)
        assert answer["decision"] == "declined"
        assert answer["offer_type"] == step_type
        assert answer["job_id"] is None
        assert "Location" not in r.headers
    assert len(charges(order["id"])) == 1
    assert event_types(order["id"])[-2:] == ["upsell.declined", "upsell.declined"]
    assert standin.count("payment_intents.create") == 1


def test_the_upsell_waits_for_the_checkout_payment(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    """The buyer reaches the upsell page before the settling job ran."""
    order = place_order(client, tenant.headers, live)
    step = live["steps"]["downsell"]
    answer = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    with pytest.raises(NotYet):  # a wait, not a failure: no attempt is spent
        charge_upsell(answer["id"])
    standin.confirm_as_browser(order["payment_intent_id"])
    settle(order["id"])
    assert charge_upsell(answer["id"]) == {"status": "succeeded"}
    assert charges(order["id"])[1].captured_cents == 1900


def test_an_unpaid_order_takes_no_upsell_and_cancels_a_waiting_one(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = place_order(client, tenant.headers, live)
    step = live["steps"]["upsell"]
    answer = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    standin.confirm_as_browser(order["payment_intent_id"], "pm_card_chargeDeclined")
    settle(order["id"])
    assert charge_upsell(answer["id"]) == {"status": "cancelled"}
    r = _answer(
        client,
        tenant.headers,
        order["id"],
        step_id=live["steps"]["downsell"]["id"],
        decision="accept",
    )
    assert r.status_code == 409
    assert r.json()["code"] == "order_not_paid"
    assert standin.count("payment_intents.create") == 1


def test_an_upsell_that_needs_authentication_ends_requires_action(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = place_order(client, tenant.headers, live)
    standin.confirm_as_browser(order["payment_intent_id"], "pm_card_authenticationRequired")
    standin.complete_action(order["payment_intent_id"])
    assert settle(order["id"]) == {"status": "paid"}
    step = live["steps"]["upsell"]
    answer = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    assert charge_upsell(answer["id"]) == {"status": "requires_action"}
    upsell = charges(order["id"])[1]
    assert upsell.status == "requires_action"
    assert upsell.failure_code == "authentication_required"
    assert upsell.stripe_payment_intent_id is not None
    assert standin.charges_for(upsell.stripe_payment_intent_id) == []
    assert event_types(order["id"])[-1] == "upsell.payment_failed"
    detail = ok(client.get(f"{ORDERS}/{order['id']}", headers=tenant.headers))
    assert detail["total_cents"] == 4900


def test_a_declined_upsell_is_final(client: Any, tenant: Any, live: Any, standin: Any) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    pm = standin.payment_intent(order["payment_intent_id"])["payment_method"]
    standin.decline_future_charges(pm, code="card_declined", decline_code="insufficient_funds")
    step = live["steps"]["upsell"]
    answer = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    assert charge_upsell(answer["id"]) == {"status": "failed"}
    assert charges(order["id"])[1].failure_code == "insufficient_funds"


def test_a_lost_answer_from_stripe_never_charges_twice(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    """Stripe charged, then its answer was lost: the retry replays the same key."""
    order = paid_order(client, tenant.headers, live, standin)
    step = live["steps"]["upsell"]
    answer = ok(
        _answer(client, tenant.headers, order["id"], step_id=step["id"], decision="accept"), 202
    )
    standin.fail_after_commit_next(1, op="payment_intents.create")
    with pytest.raises(RetryableRemoteError):
        charge_upsell(answer["id"])
    standin.fail_next(1, 500, op="payment_intents.create")
    with pytest.raises(RetryableRemoteError):
        charge_upsell(answer["id"])
    assert charge_upsell(answer["id"]) == {"status": "succeeded"}
    upsell = charges(order["id"])[1]
    assert len(standin.charges_for(upsell.stripe_payment_intent_id)) == 1
    assert standin.count("payment_intents.create") == 2  # the checkout's and the upsell's


def test_only_upsell_and_downsell_steps_are_answered(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    headers = {**tenant.headers, "Idempotency-Key": "upsell-1"}
    r = _answer(
        client, headers, order["id"], step_id=live["steps"]["order_form"]["id"], decision="accept"
    )
    assert r.status_code == 422
    assert r.json()["code"] == "not_an_upsell_step"
    unknown = _answer(
        client,
        tenant.headers,
        order["id"],
        step_id=live["steps"]["thank_you"]["id"],
        decision="accept",
    )
    assert unknown.status_code == 404
    for bad in (
        {"step_id": live["steps"]["upsell"]["id"]},
        {"step_id": live["steps"]["upsell"]["id"], "decision": "maybe"},
        {"decision": "accept"},
        {"step_id": live["steps"]["upsell"]["id"], "decision": "accept", "price_cents": 1},
    ):
        assert _answer(client, tenant.headers, order["id"], **bad).status_code == 422
    assert len(charges(order["id"])) == 1
    # An Idempotency-Key replays the first answer.
    headers = {**tenant.headers, "Idempotency-Key": "upsell-2"}
    step_id = live["steps"]["upsell"]["id"]
    first = _answer(client, headers, order["id"], step_id=step_id, decision="accept")
    again = _answer(client, headers, order["id"], step_id=step_id, decision="accept")
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
