"""Server facts: purchases, upsell answers and opt-ins reach analytics_events once each."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from domain.analytics.consumers import CONSUMER
from domain.analytics.models import AnalyticsEvent
from domain.events import feed
from domain.shared import events
from domain.shared.db import unit_of_work
from tests.support.drain import make_funnel
from tests.support.orders import event_payload, offer_funnel, place_order, settle
from workers.tasks.events import drain_consumer


def _run_facts() -> None:
    """Run analytics.facts until it is caught up (it starts at the oldest retained event)."""
    consumer = next(c for c in feed.registered() if c.name == CONSUMER)
    while drain_consumer(consumer):
        pass


def _facts(account_id: uuid.UUID) -> list[AnalyticsEvent]:
    with unit_of_work() as session:
        stmt = select(AnalyticsEvent).where(AnalyticsEvent.account_id == account_id)
        return list(session.scalars(stmt.order_by(AnalyticsEvent.event_id)))


def _record(account_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> int:
    with unit_of_work() as session:
        recorded = events.record(session, account_id=account_id, type=type_, payload=payload)
        session.flush()
        return recorded.id


def _order(funnel: uuid.UUID, step: uuid.UUID, order: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": str(order),
        "number": 1,
        "funnel_id": str(funnel),
        "contact_id": None,
        "step_id": str(step),
        **extra,
    }


def test_each_fact_becomes_one_server_event(tenant: Any) -> None:
    funnel, step, order, contact = (make_funnel(tenant.account_id), *(uuid.uuid4() for _ in "abc"))
    paid = _record(
        tenant.account_id,
        "order.paid",
        _order(funnel, step, order, amount_cents=4900, currency="usd", bump_count=2),
    )
    offer = {
        "upsell_id": str(uuid.uuid4()),
        "offer_type": "upsell",
        "product_id": str(uuid.uuid4()),
        "price_cents": 1900,
        "visitor_id": "vis-1",
        "session_id": "ses-1",
    }
    accepted = _record(
        tenant.account_id,
        "upsell.accepted",
        _order(funnel, step, order, **offer, amount_cents=1900, currency="USD"),
    )
    declined = _record(tenant.account_id, "upsell.declined", _order(funnel, step, order, **offer))
    optin = {
        "contact_id": str(contact),
        "funnel_id": str(funnel),
        "step_id": str(step),
        "email_consent": True,
    }
    opted = _record(tenant.account_id, "contact.opted_in", optin)
    # An order placed outside any funnel has nothing to be counted in.
    _record(
        tenant.account_id,
        "order.paid",
        _order(funnel, step, uuid.uuid4(), amount_cents=1, currency="USD") | {"funnel_id": None},
    )
    _run_facts()

    rows = {row.event_id: row for row in _facts(tenant.account_id)}
    assert sorted(rows) == sorted(f"srv:{i}" for i in (paid, accepted, declined, opted))
    purchase = rows[f"srv:{paid}"]
    assert (purchase.type, purchase.source, purchase.amount_cents, purchase.currency) == (
        "purchase",
        "server",
        4900,
        "USD",
    )
    assert (purchase.visitor_id, purchase.session_id) == (f"order:{order}", f"order:{order}")
    assert (purchase.order_id, purchase.step_id, purchase.funnel_id) == (order, step, funnel)
    assert purchase.properties == {"bump_count": 2}
    up = rows[f"srv:{accepted}"]
    assert (up.type, up.amount_cents, up.visitor_id, up.session_id) == (
        "upsell_accepted",
        1900,
        "vis-1",
        "ses-1",
    )
    down = rows[f"srv:{declined}"]
    assert (down.type, down.amount_cents, down.order_id) == ("upsell_declined", None, order)
    opt = rows[f"srv:{opted}"]
    assert (opt.type, opt.visitor_id, opt.step_id) == ("optin", f"contact:{contact}", step)
    # A purchase and the upsell answers of one order are one visitor when none was sent.
    assert purchase.visitor_ordinal != up.visitor_ordinal == down.visitor_ordinal


def test_a_replayed_feed_stores_nothing_twice(tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    payload = _order(funnel, uuid.uuid4(), uuid.uuid4(), amount_cents=700, currency="EUR")
    _record(tenant.account_id, "order.paid", payload)
    _run_facts()
    with unit_of_work() as session:
        session.execute(
            text("UPDATE event_consumers SET last_tx_id = '0', last_event_id = 0 WHERE name = :n"),
            {"n": CONSUMER},
        )
    _run_facts()
    assert [row.type for row in _facts(tenant.account_id)] == ["purchase"]


def test_a_paid_order_with_a_bump_is_a_purchase_of_what_was_captured(
    client: Any, tenant: Any, standin: Any
) -> None:
    live = offer_funnel(client, tenant.headers)
    bump = live["order"]["bump_product_ids"]
    order = place_order(client, tenant.headers, live, bumps=bump)
    standin.confirm_as_browser(order["payment_intent_id"])
    assert settle(order["id"]) == {"status": "paid"}
    assert event_payload(order["id"], "order.paid")["bump_count"] == 1
    _run_facts()

    (purchase,) = [row for row in _facts(tenant.account_id) if row.type == "purchase"]
    assert purchase.order_id == uuid.UUID(order["id"])
    assert purchase.amount_cents == order["total_cents"]
    assert purchase.properties == {"bump_count": 1}
