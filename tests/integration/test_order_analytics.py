"""Order analytics: figures per UTC day and currency, filters, tenant isolation, bad input.

Orders are bought and settled through the API and the stand-in; upsells and refunds are
written with the ORM (their figures are what is under test), and every row is moved to
fixed days in the past so the days are known.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from domain.orders import service as orders
from domain.orders.models import Order, OrderCharge, OrderUpsell, Refund
from domain.orders.stripe_gateway import gateway
from domain.shared.db import unit_of_work
from tests.support.funnels import live_checkout, ok

URL = "/api/v1/orders/analytics"
PI_URL = "/api/v1/orders/payment-intent"
ORDERS = "/api/v1/orders"
CUSTOMER = {"email": "buyer@example.com", "first_name": "Ada", "last_name": "Lovelace"}
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
RANGE = {"date_from": "2024-02-29", "date_to": "2024-03-05"}
ZERO = {
    "orders": 0,
    "bump_orders": 0,
    "bump_take_rate": None,
    "gross_revenue_cents": 0,
    "upsell_revenue_cents": 0,
    "refunds": 0,
    "refunded_cents": 0,
    "disputes_lost": 0,
    "disputes_lost_cents": 0,
    "net_revenue_cents": 0,
    "aov_cents": None,
    "upsells_offered": 0,
    "upsells_accepted": 0,
    "upsell_take_rate": None,
}


def _at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A moment of March 2024 (UTC)."""
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


def _order(client: Any, tenant: Any, live: dict[str, Any], standin: Any, *, bump: bool) -> str:
    """An order bought through the API, paid when the stand-in is given: its id."""
    bumps = live["order"]["bump_product_ids"] if bump else []
    cart = {**live["body"], "bump_product_ids": bumps}
    intent = ok(client.post(PI_URL, json=cart, headers=tenant.headers), 201)
    body = {
        **cart,
        "payment_intent_id": intent["payment_intent_id"],
        "customer": CUSTOMER,
        "billing_address": ADDRESS,
    }
    order = ok(client.post(ORDERS, json=body, headers=tenant.headers), 202)
    if standin is not None:
        standin.confirm_as_browser(order["payment_intent_id"])
        with unit_of_work() as session:
            settled = orders.settle_order(
                session, order_id=uuid.UUID(order["id"]), gateway=gateway()
            )
        assert settled == {"status": "paid"}
    return order["id"]  # type: ignore[no-any-return]


def _move(order_id: str, when: datetime, currency: str | None = None) -> None:
    """Put an order (and its charges) at another moment, maybe in another currency."""
    oid = uuid.UUID(order_id)
    with unit_of_work() as session:
        order = session.get(Order, oid)
        assert order is not None
        order.created_at = when - timedelta(minutes=5)
        order.paid_at = when if order.paid_at else None
        order.currency = currency or order.currency
        session.execute(
            update(OrderCharge)
            .where(OrderCharge.order_id == oid)
            .values(created_at=when, currency=currency or order.currency)
        )


def _main_charge(session: Any, order_id: str) -> OrderCharge:
    charge = session.scalar(
        select(OrderCharge).where(
            OrderCharge.order_id == uuid.UUID(order_id), OrderCharge.kind == "main"
        )
    )
    assert charge is not None
    return charge  # type: ignore[no-any-return]


def _upsell(
    live: dict[str, Any], order_id: str, when: datetime, decision: str, charge: str | None
) -> None:
    """An answered one-click offer; accepted ones get an upsell charge in the given status."""
    with unit_of_work() as session:
        order = session.get(Order, uuid.UUID(order_id))
        assert order is not None
        step = live["funnel"]["steps"][2]
        upsell = OrderUpsell(
            id=uuid.uuid4(),
            account_id=order.account_id,
            order_id=order.id,
            step_id=uuid.UUID(step["id"]),
            offer_type="upsell",
            product_id=uuid.UUID(step["product_id"]),
            decision=decision,
            price_cents=4900,
            created_at=when,
        )
        if charge is not None:
            upsell.charge_id = uuid.uuid4()
            session.add(
                OrderCharge(
                    id=upsell.charge_id,
                    account_id=order.account_id,
                    order_id=order.id,
                    kind="upsell",
                    status=charge,
                    currency=order.currency,
                    amount_cents=4900,
                    captured_cents=4900 if charge == "succeeded" else 0,
                    created_at=when,
                )
            )
            session.flush()
        session.add(upsell)


def _refund(order_id: str, when: datetime, cents: int, status: str) -> None:
    """A refund of the order's main charge, in the given status."""
    with unit_of_work() as session:
        charge = _main_charge(session, order_id)
        if status != "failed":
            charge.refunded_cents += cents
        session.add(
            Refund(
                id=uuid.uuid4(),
                account_id=charge.account_id,
                order_id=charge.order_id,
                charge_id=charge.id,
                amount_cents=cents,
                status=status,
                created_at=when,
            )
        )


@pytest.fixture
def shop(client: Any, tenant: Any, other_tenant: Any, standin: Any) -> dict[str, Any]:
    """Two funnels of the tenant with orders spread over March 2024, and another account's.

    Products cost 4900 each, so an order with its bump is 9800.
    """
    a, b = live_checkout(client, tenant.headers), live_checkout(client, tenant.headers)
    o1 = _order(client, tenant, a, standin, bump=True)
    _move(o1, _at(1, 0, 0, 0))  # the first second of the day
    o2 = _order(client, tenant, a, standin, bump=False)
    _move(o2, _at(1, 23, 59, 59))  # the last second of the same day
    o3 = _order(client, tenant, a, standin, bump=True)
    _move(o3, _at(3))
    unpaid = _order(client, tenant, a, None, bump=True)
    _move(unpaid, _at(1))
    o5 = _order(client, tenant, b, standin, bump=False)
    _move(o5, _at(2))
    o6 = _order(client, tenant, b, standin, bump=True)
    _move(o6, _at(2), currency="EUR")
    _upsell(a, o1, _at(1, 0, 2), "accepted", "succeeded")
    _upsell(a, o2, _at(2, 0, 1), "declined", None)  # answered the next day
    _upsell(a, o3, _at(3, 13), "accepted", "failed")  # a card that failed: no revenue
    _refund(o3, _at(4), 2000, "succeeded")
    _refund(o3, _at(4), 500, "pending")
    _refund(o3, _at(4), 700, "failed")
    _refund(o1, _at(6, 0), 1000, "succeeded")  # the day after the range
    theirs = live_checkout(client, other_tenant.headers)
    _move(_order(client, other_tenant, theirs, standin, bump=True), _at(1))
    return {"a": a["funnel"]["id"], "b": b["funnel"]["id"], "theirs": theirs["funnel"]["id"]}


def _get(client: Any, tenant: Any, **params: Any) -> dict[str, Any]:
    return ok(client.get(URL, params=params, headers=tenant.headers))  # type: ignore[no-any-return]


def _series(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["currency"]: s for s in body["currencies"]}


def _days(series: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d.pop("date"): d for d in series["days"]}


def test_figures_per_day_and_in_total(client: Any, tenant: Any, shop: Any) -> None:
    body = _get(client, tenant, **RANGE)
    assert body["date_from"] == "2024-02-29"
    assert body["date_to"] == "2024-03-05"
    assert [s["currency"] for s in body["currencies"]] == ["EUR", "USD"]
    usd = _days(_series(body)["USD"])
    assert list(usd) == [f"2024-0{d}" for d in ("2-29", "3-01", "3-02", "3-03", "3-04", "3-05")]
    assert usd["2024-02-29"] == ZERO
    assert usd["2024-03-05"] == ZERO
    assert usd["2024-03-01"] == {
        **ZERO,
        "orders": 2,
        "bump_orders": 1,
        "bump_take_rate": 0.5,
        "gross_revenue_cents": 9800 + 4900 + 4900,
        "upsell_revenue_cents": 4900,
        "net_revenue_cents": 19600,
        "aov_cents": 9800,
        "upsells_offered": 1,
        "upsells_accepted": 1,
        "upsell_take_rate": 1.0,
    }
    assert usd["2024-03-02"] == {
        **ZERO,
        "orders": 1,
        "bump_take_rate": 0.0,
        "gross_revenue_cents": 4900,
        "net_revenue_cents": 4900,
        "aov_cents": 4900,
        "upsells_offered": 1,
        "upsell_take_rate": 0.0,
    }
    assert usd["2024-03-03"] == {
        **ZERO,
        "orders": 1,
        "bump_orders": 1,
        "bump_take_rate": 1.0,
        "gross_revenue_cents": 9800,
        "net_revenue_cents": 9800,
        "aov_cents": 9800,
        "upsells_offered": 1,
        "upsells_accepted": 1,
        "upsell_take_rate": 1.0,
    }
    assert usd["2024-03-04"] == {
        **ZERO,
        "refunds": 1,
        "refunded_cents": 2000,
        "net_revenue_cents": -2000,
    }
    assert _series(body)["USD"]["totals"] == {
        "orders": 4,
        "bump_orders": 2,
        "bump_take_rate": 0.5,
        "gross_revenue_cents": 34300,
        "upsell_revenue_cents": 4900,
        "refunds": 1,
        "refunded_cents": 2000,
        "disputes_lost": 0,
        "disputes_lost_cents": 0,
        "net_revenue_cents": 32300,
        "aov_cents": 8575,
        "upsells_offered": 3,
        "upsells_accepted": 2,
        "upsell_take_rate": 0.6667,
    }
    eur = _series(body)["EUR"]
    assert eur["totals"]["orders"] == 1
    assert eur["totals"]["gross_revenue_cents"] == 9800
    assert [d["orders"] for d in eur["days"]] == [0, 0, 1, 0, 0, 0]


def test_the_range_is_inclusive_in_utc_days(client: Any, tenant: Any, shop: Any) -> None:
    one_day = _series(_get(client, tenant, date_from="2024-03-01", date_to="2024-03-01"))
    assert one_day["USD"]["totals"]["orders"] == 2  # 00:00:00 and 23:59:59 both count
    assert [d["date"] for d in one_day["USD"]["days"]] == ["2024-03-01"]
    assert "EUR" not in one_day  # nothing in euros that day
    later = _series(_get(client, tenant, date_from="2024-03-04", date_to="2024-03-06"))
    assert later["USD"]["totals"]["refunded_cents"] == 3000
    assert later["USD"]["totals"]["orders"] == 0


def test_another_accounts_orders_never_count(
    client: Any, tenant: Any, other_tenant: Any, shop: Any
) -> None:
    theirs = _series(_get(client, other_tenant, **RANGE))
    assert list(theirs) == ["USD"]
    assert theirs["USD"]["totals"]["orders"] == 1
    assert theirs["USD"]["totals"]["gross_revenue_cents"] == 9800
    assert _series(_get(client, tenant, **RANGE))["USD"]["totals"]["orders"] == 4
    for funnel in (shop["theirs"], str(uuid.uuid4())):
        r = client.get(URL, params={**RANGE, "funnel_id": funnel}, headers=tenant.headers)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
    r = client.get(URL, params={**RANGE, "funnel_id": shop["a"]}, headers=other_tenant.headers)
    assert r.status_code == 404


def test_a_funnels_figures(client: Any, tenant: Any, shop: Any) -> None:
    a = _get(client, tenant, funnel_id=shop["a"], **RANGE)
    assert a["funnel_id"] == shop["a"]
    assert list(_series(a)) == ["USD"]
    totals = _series(a)["USD"]["totals"]
    assert totals["orders"] == 3
    assert totals["gross_revenue_cents"] == 9800 + 4900 + 4900 + 9800
    assert totals["upsells_offered"] == 3
    assert totals["refunded_cents"] == 2000
    assert _days(_series(a)["USD"])["2024-03-02"]["orders"] == 0
    b = _series(_get(client, tenant, funnel_id=shop["b"], **RANGE))
    assert list(b) == ["EUR", "USD"]
    assert b["USD"]["totals"] == {
        **ZERO,
        "orders": 1,
        "bump_take_rate": 0.0,
        "gross_revenue_cents": 4900,
        "net_revenue_cents": 4900,
        "aov_cents": 4900,
    }


def test_one_currency(client: Any, tenant: Any, shop: Any) -> None:
    eur = _get(client, tenant, currency="eur", **RANGE)
    assert eur["currency"] == "EUR"
    assert list(_series(eur)) == ["EUR"]
    assert _series(eur)["EUR"]["totals"]["aov_cents"] == 9800
    gbp = _get(client, tenant, currency="GBP", **RANGE)
    assert list(_series(gbp)) == ["GBP"]  # asked for: present, zero-filled
    assert _series(gbp)["GBP"]["totals"] == ZERO
    assert len(_series(gbp)["GBP"]["days"]) == 6


def test_the_last_30_days_by_default(client: Any, tenant: Any, standin: Any) -> None:
    assert _get(client, tenant)["currencies"] == []  # nothing sold: no currency to show
    # Sales today, on the first day of the window, and the day before it.
    live = live_checkout(client, tenant.headers)
    now = datetime.now(UTC)
    _order(client, tenant, live, standin, bump=False)  # paid now: today
    first_day, day_before = (_order(client, tenant, live, standin, bump=False) for _ in "ab")
    _move(first_day, datetime.combine(now.date() - timedelta(days=29), time(0, 0, 1), UTC))
    _move(day_before, datetime.combine(now.date() - timedelta(days=30), time(23, 59, 59), UTC))
    body = _get(client, tenant)
    today = date.fromisoformat(body["date_to"])
    assert now.date() <= today <= datetime.now(UTC).date()
    assert date.fromisoformat(body["date_from"]) == today - timedelta(days=29)
    usd = _series(body)["USD"]
    assert len(usd["days"]) == 30
    assert usd["days"][-1]["date"] == body["date_to"]
    assert [d["orders"] for d in usd["days"]] == [1] + [0] * 28 + [1]
    assert usd["totals"]["gross_revenue_cents"] == 2 * 4900
    year = _get(client, tenant, date_from="2024-01-01", date_to="2024-12-31", currency="USD")
    assert len(year["currencies"][0]["days"]) == 366


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2024-03-05", "date_to": "2024-03-04"}, "date_to"),
        ({"date_from": "2024-01-01", "date_to": "2025-01-01"}, "date_to"),
        ({"date_from": "2024-02-30"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "1969-12-31", "date_to": "1970-01-05"}, "date_from"),
        ({"date_from": "9999-12-31", "date_to": "9999-12-31"}, "date_to"),
        ({"date_to": "0001-01-01"}, "date_to"),
        ({"funnel_id": "1"}, "funnel_id"),
        ({"currency": "US"}, "currency"),
        ({"currency": "€UR"}, "currency"),
    ],
)
def test_bad_input_is_a_422(client: Any, tenant: Any, params: dict[str, str], field: str) -> None:
    r = client.get(URL, params=params, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert ["query", field] in [d["loc"] for d in r.json()["details"]]


def test_only_the_accounts_users_and_keys_may_look(client: Any, tenant: Any) -> None:
    assert client.get(URL).status_code == 401
    r = client.get(URL, headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 401
