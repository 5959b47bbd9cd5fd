"""The funnel reports over HTTP: figures from rolled stats, exact range uniques, the zone and
watermark on every answer, the SVG chart, tenant isolation and refused parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from domain.shared.db import unit_of_work
from tests.support.funnels import complete_funnel, ok
from tests.support.rollup_data import insert_events
from workers.tasks.analytics_rollup import run

BASE = "/api/v1/analytics/funnels"
UTC = dt.UTC
# 23:30 UTC on 1 March is 08:30 on 2 March in Tokyo.
T0 = dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
RANGE = {"from": "2026-03-01", "to": "2026-03-03"}


def _event(
    funnel: dict[str, Any],
    step: int,
    kind: str,
    event_id: str,
    visitor: int,
    at: dt.datetime,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "session_id": f"s{visitor}-{at.date()}",
        "visitor_ordinal": visitor,
        "funnel_id": funnel["id"],
        "step_id": funnel["steps"][step]["id"],
        "occurred_at": at,
        **extra,
    }


@pytest.fixture
def funnel(client: Any, tenant: Any) -> dict[str, Any]:
    """A funnel (opt-in, order form, upsell, thanks) with two days of events, rolled."""
    funnel = complete_funnel(client, tenant.headers)
    day2 = T0 + dt.timedelta(days=1)
    events = [
        _event(funnel, 0, "page_view", "v1", 1, T0),
        _event(funnel, 0, "optin", "o1", 1, T0 + dt.timedelta(minutes=1)),
        _event(funnel, 1, "page_view", "v2", 1, T0 + dt.timedelta(minutes=2)),
        _event(
            funnel,
            1,
            "purchase",
            "p1",
            1,
            T0 + dt.timedelta(minutes=3),
            amount_cents=4900,
            currency="USD",
            bump_count=1,
        ),
        _event(funnel, 2, "page_view", "v3", 1, T0 + dt.timedelta(minutes=4)),
        _event(funnel, 2, "upsell_declined", "d1", 1, T0 + dt.timedelta(minutes=5)),
        # Day two: visitor 1 again (one unique visitor over the range) and visitor 2.
        _event(funnel, 0, "page_view", "v4", 1, day2),
        _event(funnel, 0, "page_view", "v5", 2, day2),
        _event(funnel, 1, "page_view", "v6", 2, day2 + dt.timedelta(minutes=1)),
        _event(
            funnel,
            1,
            "purchase",
            "p2",
            2,
            day2 + dt.timedelta(minutes=2),
            amount_cents=1000,
            currency="EUR",
        ),
        _event(funnel, 0, "exposure", "x1", 2, day2),  # not a step stat
    ]
    with unit_of_work() as session:
        insert_events(session, tenant.account_id, events)
    run()
    return funnel


def test_the_overview_adds_up(client: Any, tenant: Any, funnel: dict[str, Any]) -> None:
    body = ok(client.get(f"{BASE}/{funnel['id']}/overview", params=RANGE, headers=tenant.headers))

    total = body["funnel"]
    assert (total["views"], total["unique_visitors"]) == (6, 2)
    assert (total["sales"], total["optins"], total["bump_purchases"]) == (2, 1, 1)
    assert total["bump_take_rate"] == 0.5
    assert total["upsell_take_rate"] == 0.0
    assert total["conversion_rate"] == 1.0  # two sales, two visitors
    assert total["revenue"] == [
        {"currency": "EUR", "revenue_cents": 1000, "earnings_per_click_cents": 500.0},
        {"currency": "USD", "revenue_cents": 4900, "earnings_per_click_cents": 2450.0},
    ]
    optin, order = body["steps"][0], body["steps"][1]
    # Visitor 1 viewed the opt-in on both days: one unique visitor, not two.
    assert (optin["views"], optin["unique_visitors"], optin["optin_rate"]) == (3, 2, 0.5)
    assert (order["sales"], order["conversions"], order["conversion_rate"]) == (2, 2, 1.0)
    assert body["freshness"]["time_zone"] == "UTC"
    assert body["freshness"]["rolled_in_zones"] == ["UTC"]
    assert body["freshness"]["fresh_as_of"] is not None


def test_steps_by_day_and_by_week(client: Any, tenant: Any, funnel: dict[str, Any]) -> None:
    url = f"{BASE}/{funnel['id']}/steps"
    days = ok(client.get(url, params=RANGE, headers=tenant.headers))
    weeks = ok(client.get(url, params={**RANGE, "interval": "week"}, headers=tenant.headers))

    optin_days = days["steps"][0]["buckets"]
    assert [b["start"] for b in optin_days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [b["unique_visitors"] for b in optin_days] == [1, 2, 0]
    # 1 March 2026 is a Sunday: its week ends that day, the next starts on Monday the 2nd.
    optin_weeks = weeks["steps"][0]["buckets"]
    assert [(b["start"], b["end"]) for b in optin_weeks] == [
        ("2026-03-01", "2026-03-01"),
        ("2026-03-02", "2026-03-03"),
    ]


def test_dropoffs_as_json_and_svg(client: Any, tenant: Any, funnel: dict[str, Any]) -> None:
    url = f"{BASE}/{funnel['id']}/dropoffs"
    body = ok(client.get(url, params=RANGE, headers=tenant.headers))
    chart = client.get(url, params={**RANGE, "format": "svg"}, headers=tenant.headers)

    steps = body["steps"]
    assert [s["unique_visitors"] for s in steps[:3]] == [2, 2, 1]
    assert [s["from_previous"] for s in steps[:3]] == [None, 2, 1]
    assert steps[2]["dropoff_rate"] == 0.5
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.lstrip().startswith("<?xml")
    assert "unique visitors" in chart.text


def test_a_zone_change_rerolls_into_the_new_days(
    client: Any, tenant: Any, funnel: dict[str, Any]
) -> None:
    ok(client.patch("/api/v1/account", json={"timezone": "Asia/Tokyo"}, headers=tenant.headers))
    run()

    body = ok(client.get(f"{BASE}/{funnel['id']}/steps", params=RANGE, headers=tenant.headers))

    # Day one's events happened on 2 March in Tokyo.
    assert [b["views"] for b in body["steps"][0]["buckets"]] == [0, 1, 2]
    assert body["freshness"]["time_zone"] == "Asia/Tokyo"
    assert body["freshness"]["rolled_in_zones"] == ["Asia/Tokyo"]


def test_another_accounts_funnel_is_404(
    client: Any, other_tenant: Any, funnel: dict[str, Any]
) -> None:
    for report in ("overview", "steps", "dropoffs"):
        r = client.get(f"{BASE}/{funnel['id']}/{report}", headers=other_tenant.headers)
        assert r.status_code == 404, r.text
    r = client.get(f"{BASE}/{uuid.uuid4()}/overview", headers=other_tenant.headers)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("report", "params"),
    [
        ("overview", {"from": "2026-03-05", "to": "2026-03-01"}),
        ("overview", {"from": "2024-01-01", "to": "2026-03-01"}),
        ("overview", {"from": "yesterday"}),
        ("overview", {"from": "0001-01-01"}),
        ("steps", {"to": "9999-12-31"}),
        ("steps", {"interval": "month"}),
        ("dropoffs", {"format": "png"}),
    ],
)
def test_bad_parameters_are_422_json(
    client: Any, tenant: Any, funnel: dict[str, Any], report: str, params: dict[str, str]
) -> None:
    r = client.get(f"{BASE}/{funnel['id']}/{report}", params=params, headers=tenant.headers)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")


def test_reports_need_a_login(client: Any, funnel: dict[str, Any]) -> None:
    assert client.get(f"{BASE}/{funnel['id']}/overview").status_code == 401


def test_metrics_show_the_watermark_age(client: Any, funnel: dict[str, Any]) -> None:
    body = client.get("/metrics").text

    line = next(
        line for line in body.splitlines()
        if line.startswith("funnels_analytics_rollup_watermark_age_seconds ")
    )
    assert 0 <= float(line.split()[1]) < 600  # the fixture's run caught up moments ago
