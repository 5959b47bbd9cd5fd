"""One place computes report money: orders analytics' gross per currency equals the funnel
overview's for the same range and zone, over orders paid through the pipeline."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from domain.shared.db import unit_of_work, utcnow
from domain.shared.events import DomainEvent
from tests.support.funnels import ok
from tests.support.orders import charge_upsell, offer_funnel, paid_order
from tests.support.rollup_data import insert_events
from workers.tasks.analytics_rollup import run

ZONE = "America/New_York"


def _facts(order_ids: list[str]) -> list[DomainEvent]:
    """The order.paid and upsell.accepted events of these orders."""
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(DomainEvent).where(
                    DomainEvent.subject_id.in_([uuid.UUID(i) for i in order_ids]),
                    DomainEvent.type.in_(["order.paid", "upsell.accepted"]),
                )
            )
        )


def _as_analytics(event: DomainEvent, funnel_id: str, visitor: int) -> dict[str, Any]:
    """The analytics row the drain's feed consumer writes for a paid order or upsell."""
    payload = event.payload
    return {
        "event_id": f"srv:{event.id}",
        "type": "purchase" if event.type == "order.paid" else "upsell_accepted",
        "session_id": f"order:{event.subject_id}",
        "visitor_ordinal": visitor,
        "funnel_id": funnel_id,
        "step_id": payload["step_id"],
        "occurred_at": event.occurred_at,
        "amount_cents": payload["amount_cents"],
        "currency": payload["currency"],
    }


def test_orders_gross_equals_the_overviews_revenue(client: Any, tenant: Any, standin: Any) -> None:
    ok(client.patch("/api/v1/account", json={"timezone": ZONE}, headers=tenant.headers))
    live = offer_funnel(client, tenant.headers)
    funnel_id = live["funnel"]["id"]
    orders = [paid_order(client, tenant.headers, live, standin) for _ in range(2)]
    upsell = ok(
        client.post(
            f"/api/v1/orders/{orders[0]['id']}/upsells",
            headers=tenant.headers,
            json={"step_id": live["steps"]["upsell"]["id"], "decision": "accept"},
        ),
        202,
    )
    assert charge_upsell(upsell["id"]) == {"status": "succeeded"}
    facts = _facts([order["id"] for order in orders])
    assert len(facts) == 3
    with unit_of_work() as session:
        insert_events(
            session,
            tenant.account_id,
            [_as_analytics(event, funnel_id, n) for n, event in enumerate(facts)],
        )
    run()
    today = utcnow().astimezone(dt.UTC).date()
    window = {"from": str(today - dt.timedelta(days=2)), "to": str(today + dt.timedelta(days=1))}

    overview = ok(
        client.get(
            f"/api/v1/analytics/funnels/{funnel_id}/overview", params=window, headers=tenant.headers
        )
    )
    orders_view = ok(
        client.get(
            "/api/v1/orders/analytics",
            headers=tenant.headers,
            params={"date_from": window["from"], "date_to": window["to"], "funnel_id": funnel_id},
        )
    )

    revenue = {r["currency"]: r["revenue_cents"] for r in overview["funnel"]["revenue"]}
    gross = {c["currency"]: c["totals"]["gross_revenue_cents"] for c in orders_view["currencies"]}
    assert revenue == gross
    assert sum(gross.values()) > 0
    assert orders_view["time_zone"] == overview["freshness"]["time_zone"] == ZONE
