"""Stripe disputes: recorded on the charge once, in any order; lost ones count against revenue."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from domain.orders.models import Dispute
from domain.shared.db import unit_of_work, utcnow
from tests.support.funnels import live_checkout, ok
from tests.support.orders import charges, event_payload, event_types, paid_order

WEBHOOK = "/api/v1/orders/stripe/webhook"
ANALYTICS = "/api/v1/orders/analytics"


def _post(client: Any, standin: Any, event: dict[str, Any]) -> Any:
    """Deliver a stand-in event to the app's webhook, signed as Stripe signs it."""
    payload = json.dumps(event).encode()
    headers = {"Stripe-Signature": standin.sign(payload), "Content-Type": "application/json"}
    return ok(client.post(WEBHOOK, content=payload, headers=headers))


def _disputes(account_id: uuid.UUID) -> list[Dispute]:
    with unit_of_work() as session:
        stmt = select(Dispute).where(Dispute.account_id == account_id)
        return list(session.scalars(stmt.order_by(Dispute.created_at)))


def _today(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    today = utcnow().date().isoformat()
    body = ok(client.get(ANALYTICS, params={"date_from": today, "date_to": today}, headers=headers))
    if not body["currencies"]:
        return {}
    return body["currencies"][0]["totals"]  # type: ignore[no-any-return]


@pytest.fixture
def paid(client: Any, tenant: Any, standin: Any) -> dict[str, Any]:
    """A paid order of the tenant."""
    return paid_order(client, tenant.headers, live_checkout(client, tenant.headers), standin)  # type: ignore[no-any-return]


def test_a_dispute_is_recorded_once_even_when_redelivered(
    client: Any, tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    dispute = standin.create_dispute(paid["payment_intent_id"], reason="fraudulent")
    assert dispute["status"] == "needs_response"
    [event] = standin.events_of("charge.dispute.created", dispute["id"])
    assert _post(client, standin, event)["duplicate"] is False
    assert _post(client, standin, event) == {"duplicate": True, "job_id": None}

    [row] = _disputes(tenant.account_id)
    [main] = charges(paid["id"])
    assert row.stripe_dispute_id == dispute["id"]
    assert row.order_id == uuid.UUID(paid["id"])
    assert row.charge_id == main.id
    assert (row.amount_cents, row.currency) == (main.captured_cents, "USD")
    assert (row.reason, row.status, row.closed_at) == ("fraudulent", "needs_response", None)
    assert event_types(paid["id"]).count("charge.dispute_created") == 1
    assert event_payload(paid["id"], "charge.dispute_created") == {
        "order_id": paid["id"],
        "number": None,  # the catalogue's optional order facts, not loaded here
        "funnel_id": None,
        "contact_id": None,
        "visitor_id": None,
        "session_id": None,
        "charge_id": str(main.id),
        "dispute_id": dispute["id"],
        "amount_cents": main.captured_cents,
        "currency": "USD",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    # The order itself stays as it was: a dispute is not a refund.
    detail = ok(client.get(f"/api/v1/orders/{paid['id']}", headers=tenant.headers))
    assert (detail["status"], detail["payment_status"]) == ("paid", "paid")


def test_events_out_of_order_move_a_dispute_only_forward(
    client: Any, tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    dispute = standin.create_dispute(paid["payment_intent_id"], reason="product_not_received")
    standin.update_dispute(dispute["id"], status="under_review")
    standin.close_dispute(dispute["id"], won=False)
    created, updated, closed = (
        standin.events_of(t, dispute["id"])[0]
        for t in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
    )
    for event in (closed, updated, created):  # newest first, as a busy endpoint may get them
        _post(client, standin, event)
    [row] = _disputes(tenant.account_id)
    assert row.status == "lost"
    assert row.closed_at is not None
    types = event_types(paid["id"])
    assert types.count("charge.dispute_created") == 1
    assert types.count("charge.dispute_closed") == 1
    assert event_payload(paid["id"], "charge.dispute_closed")["status"] == "lost"


def test_open_updates_apply_in_stripe_order(
    client: Any, tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    dispute = standin.create_dispute(paid["payment_intent_id"])
    created = standin.events_of("charge.dispute.created", dispute["id"])[0]
    under_review = standin.update_dispute(dispute["id"], status="under_review")
    updated = standin.events_of("charge.dispute.updated", dispute["id"])[0]
    assert under_review["status"] == "under_review"
    _post(client, standin, updated)
    created["created"] -= 60  # Stripe's own time says it came first
    _post(client, standin, created)
    [row] = _disputes(tenant.account_id)
    assert row.status == "under_review"
    assert event_types(paid["id"]).count("charge.dispute_created") == 1


def test_a_lost_dispute_reduces_revenue_and_a_won_one_does_not(
    client: Any, tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    live = live_checkout(client, tenant.headers)
    second = paid_order(client, tenant.headers, live, standin)
    before = _today(client, tenant.headers)
    assert before["orders"] == 2
    assert before["disputes_lost"] == 0
    assert before["disputes_lost_cents"] == 0
    lost = standin.create_dispute(paid["payment_intent_id"], amount=3000)
    won = standin.create_dispute(second["payment_intent_id"])
    standin.close_dispute(lost["id"], won=False)
    standin.close_dispute(won["id"], won=True)
    for event in standin.events:
        if event["type"].startswith("charge.dispute."):
            _post(client, standin, event)
    after = _today(client, tenant.headers)
    assert after["gross_revenue_cents"] == before["gross_revenue_cents"]
    assert after["disputes_lost"] == 1
    assert after["disputes_lost_cents"] == 3000
    assert after["net_revenue_cents"] == before["net_revenue_cents"] - 3000
    assert sorted(d.status for d in _disputes(tenant.account_id)) == ["lost", "won"]


def test_another_tenants_orders_are_untouched(
    client: Any, tenant: Any, other_tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    theirs = paid_order(
        client, other_tenant.headers, live_checkout(client, other_tenant.headers), standin
    )
    their_before = _today(client, other_tenant.headers)
    dispute = standin.create_dispute(paid["payment_intent_id"])
    standin.close_dispute(dispute["id"], won=False)
    for event in standin.events:
        if event["type"].startswith("charge.dispute."):
            _post(client, standin, event)
    assert _today(client, other_tenant.headers) == their_before
    assert _disputes(other_tenant.account_id) == []
    assert not any(t.startswith("charge.dispute") for t in event_types(theirs["id"]))
    assert [d.status for d in _disputes(tenant.account_id)] == ["lost"]
    assert _today(client, tenant.headers)["disputes_lost_cents"] == paid["total_cents"]


def test_a_dispute_on_an_unknown_charge_is_stored_and_ignored(
    client: Any, tenant: Any, standin: Any, paid: dict[str, Any]
) -> None:
    dispute = standin.create_dispute(paid["payment_intent_id"])
    event = standin.events_of("charge.dispute.created", dispute["id"])[0]
    event["id"] = "evt_" + uuid.uuid4().hex
    event["data"]["object"].update(payment_intent="pi_unknown", charge="ch_unknown")
    assert _post(client, standin, event)["duplicate"] is False
    assert _disputes(tenant.account_id) == []
