"""Idempotency keys are scoped to the account and the kind of caller (SPEC Conventions).

The merchant's users and API keys share one key space; anonymous publishable-key callers
have another, so a visitor cannot squat a key the merchant will use.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.funnels import live_checkout, ok
from tests.support.orders import PI_URL


def test_a_key_used_by_a_visitor_does_not_answer_the_merchant(
    client: TestClient, tenant: Any, standin: Any
) -> None:
    live = live_checkout(client, tenant.headers)
    public = {"X-Publishable-Key": tenant.publishable_key, "Idempotency-Key": "order-2026-0001"}
    merchant = {**tenant.headers, "Idempotency-Key": "order-2026-0001"}
    squatted = ok(
        client.post(PI_URL, json={**live["body"], "email": "squatter@example.com"}, headers=public),
        201,
    )

    # Another body: the merchant's request runs (not 422 idempotency_key_reused).
    r = client.post(PI_URL, json=live["body"], headers=merchant)
    assert r.status_code == 201, r.text
    assert "Idempotent-Replayed" not in r.headers
    first = r.json()
    assert first["payment_intent_id"] != squatted["payment_intent_id"]

    # The merchant's retry replays the merchant's answer, the visitor's the visitor's.
    r = client.post(PI_URL, json=live["body"], headers=merchant)
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert r.json()["payment_intent_id"] == first["payment_intent_id"]
    r = client.post(PI_URL, json={**live["body"], "email": "squatter@example.com"}, headers=public)
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert r.json()["payment_intent_id"] == squatted["payment_intent_id"]


def test_the_same_body_from_a_visitor_is_not_replayed_to_the_merchant(
    client: TestClient, tenant: Any, standin: Any
) -> None:
    live = live_checkout(client, tenant.headers)
    key = {"Idempotency-Key": "same-body"}
    visitor = ok(
        client.post(
            PI_URL, json=live["body"], headers={"X-Publishable-Key": tenant.publishable_key, **key}
        ),
        201,
    )
    r = client.post(PI_URL, json=live["body"], headers={**tenant.headers, **key})
    assert r.status_code == 201, r.text
    assert "Idempotent-Replayed" not in r.headers
    assert r.json()["payment_intent_id"] != visitor["payment_intent_id"]


def test_users_and_api_keys_of_the_merchant_share_one_key_space(
    client: TestClient, tenant: Any, standin: Any
) -> None:
    live = live_checkout(client, tenant.headers)
    api_key = ok(
        client.post("/api/v1/api-keys", json={"name": "server"}, headers=tenant.headers), 201
    )
    key = {"Idempotency-Key": "shared"}
    first = ok(client.post(PI_URL, json=live["body"], headers={**tenant.headers, **key}), 201)
    r = client.post(
        PI_URL, json=live["body"], headers={"Authorization": f"Bearer {api_key['key']}", **key}
    )
    assert r.status_code == 201
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert r.json()["payment_intent_id"] == first["payment_intent_id"]
