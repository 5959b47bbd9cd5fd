"""POST /orders/payment-intent: priced on the server, paid through the Stripe stand-in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devtools.stripe_standin import StripeStandin
from tests.support.funnels import FUNNELS, live_checkout, ok

URL = "/api/v1/orders/payment-intent"


@pytest.fixture
def live(client: Any, tenant: Any) -> dict[str, Any]:
    """A published funnel: its order form offers the main product and one bump."""
    return live_checkout(client, tenant.headers)


def _price(client: Any, headers: dict[str, str], product_id: str) -> int:
    return int(ok(client.get(f"/api/v1/products/{product_id}", headers=headers))["price_cents"])


def test_the_cart_is_priced_from_the_catalogue(
    client: Any, tenant: Any, live: Any, standin: StripeStandin
) -> None:
    bump = live["order"]["bump_product_ids"][0]
    body = {**live["body"], "bump_product_ids": [bump], "email": "buyer@example.com"}
    answer = ok(client.post(URL, json=body, headers=tenant.headers), 201)
    expected = _price(client, tenant.headers, live["order"]["product_id"]) + _price(
        client, tenant.headers, bump
    )
    assert answer["total_cents"] == expected
    assert [i["kind"] for i in answer["items"]] == ["main", "bump"]
    assert answer["client_secret"].startswith(answer["payment_intent_id"])
    pi = standin.payment_intent(answer["payment_intent_id"])
    assert pi["amount"] == expected
    assert pi["currency"] == "usd"
    assert pi["setup_future_usage"] == "off_session"
    assert pi["metadata"]["account_id"] == str(tenant.account_id)
    assert standin.customer(pi["customer"])["email"] == "buyer@example.com"


@pytest.mark.parametrize("how", ["header", "query", "body"])
def test_a_checkout_page_pays_with_the_publishable_key(
    client: Any, tenant: Any, live: Any, standin: StripeStandin, how: str
) -> None:
    pk = tenant.publishable_key
    kwargs: dict[str, Any] = {
        "header": {"json": live["body"], "headers": {"X-Publishable-Key": pk}},
        "query": {"json": live["body"], "params": {"key": pk}},
        "body": {"json": {**live["body"], "key": pk}},
    }[how]
    answer = ok(client.post(URL, **kwargs), 201)
    assert (
        standin.payment_intent(answer["payment_intent_id"])["status"] == "requires_payment_method"
    )


@pytest.mark.parametrize(
    "extra",
    [{"amount": 1}, {"price_cents": 100}, {"total_cents": 0}, {"items": [{"price": 1}]}],
    ids=["amount", "price_cents", "total_cents", "items"],
)
def test_a_client_sent_price_is_refused(
    client: Any, tenant: Any, live: Any, standin: StripeStandin, extra: dict[str, Any]
) -> None:
    r = client.post(URL, json={**live["body"], **extra}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert standin.count("payment_intents.create") == 0


def test_what_cannot_be_bought_is_refused(
    client: Any, tenant: Any, other_tenant: Any, live: Any, standin: StripeStandin
) -> None:
    h = tenant.headers
    not_offered = {**live["body"], "bump_product_ids": [live["order"]["product_id"]]}
    assert client.post(URL, json=not_offered, headers=h).json()["code"] == "invalid_bumps"
    upsell_step = {**live["body"], "step_id": live["funnel"]["steps"][2]["id"]}
    assert client.post(URL, json=upsell_step, headers=h).json()["code"] == "not_an_order_form"
    unknown = {**live["body"], "step_id": str(uuid.uuid4())}
    assert client.post(URL, json=unknown, headers=h).status_code == 404
    # Another account's funnel, with that account's own key: 404, never priced.
    theirs = client.post(
        URL, json=live["body"], headers={"X-Publishable-Key": other_tenant.publishable_key}
    )
    assert theirs.status_code == 404
    assert (
        client.post(URL, json=live["body"], headers={"X-Publishable-Key": "pk_nope"}).status_code
        == 401
    )
    ok(client.patch(f"{FUNNELS}/{live['funnel']['id']}", json={"status": "paused"}, headers=h))
    assert client.post(URL, json=live["body"], headers=h).status_code == 404
    assert standin.count("payment_intents.create") == 0


def test_an_idempotency_key_gives_back_the_same_intent(
    client: Any, tenant: Any, live: Any, standin: StripeStandin
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    first = client.post(URL, json=live["body"], headers=headers)
    again = client.post(URL, json=live["body"], headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert standin.count("payment_intents.create") == 1


def test_stripe_hiccups_are_retried_and_an_outage_is_a_clear_503(
    client: Any, tenant: Any, live: Any, standin: StripeStandin
) -> None:
    standin.fail_next(1, 500, op="payment_intents.create")
    ok(client.post(URL, json=live["body"], headers=tenant.headers), 201)
    assert standin.count("payment_intents.create") == 1
    standin.fail_next(10, 503)
    r = client.post(URL, json=live["body"], headers=tenant.headers)
    assert r.status_code == 503
    assert r.json()["code"] == "payment_provider_unavailable"
    standin.clear_faults()
