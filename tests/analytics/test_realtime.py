"""GET .../funnels/{id}/realtime: counted at accept time, cached 5 s, in the account's zone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.shared.db import set_clock
from tests.analytics.conftest import make_funnel
from tests.analytics.test_ingest_api import BATCH, TRACK, event

# A fixed instant: every request of a test falls in the same minute, whatever the real clock.
NOW = datetime.now(UTC).replace(second=30, microsecond=0)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    """The app's clock, held at NOW; tests move it by setting clock[0]."""
    moment = [NOW]
    set_clock(lambda: moment[0])
    yield moment
    set_clock(None)


def realtime(client: Any, funnel: str, headers: dict[str, str]) -> Any:
    return client.get(f"/api/v1/analytics/funnels/{funnel}/realtime", headers=headers)


def test_active_visitors_and_events_per_minute_in_the_accounts_zone(
    client: Any, tenant: Any, funnel: str, clock: list[datetime]
) -> None:
    r = client.patch("/api/v1/account", json={"timezone": "Asia/Kathmandu"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    key = {"X-Publishable-Key": tenant.publishable_key}
    clock[0] = NOW - timedelta(minutes=7)  # outside the 5 active minutes, inside the 30 shown
    assert client.post(TRACK, json=event(funnel, visitor_id="old"), headers=key).status_code == 202
    clock[0] = NOW - timedelta(minutes=2)
    batch = [event(funnel, visitor_id=v) for v in ("a", "b", "a")]
    assert client.post(BATCH, json={"events": batch}, headers=key).status_code == 202
    clock[0] = NOW
    assert client.post(TRACK, json=event(funnel, visitor_id="c"), headers=key).status_code == 202
    other = make_funnel(client, tenant.headers)  # another funnel's traffic is not this one's
    assert client.post(TRACK, json=event(other, visitor_id="z"), headers=key).status_code == 202

    r = realtime(client, funnel, tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["time_zone"] == "Asia/Kathmandu"
    assert datetime.fromisoformat(body["as_of"]) == NOW
    assert (body["active_minutes"], body["active_visitors"]) == (5, 3)  # a, b, c
    minutes = body["events_per_minute"]
    assert len(minutes) == 30
    assert minutes[-1]["minute"].endswith("+05:45")
    starts = [datetime.fromisoformat(m["minute"]) for m in minutes]
    assert starts[-1] == NOW.replace(second=0)
    assert starts == [starts[-1] - timedelta(minutes=29 - i) for i in range(30)]
    counts = {29 - i: m["events"] for i, m in enumerate(minutes) if m["events"]}
    assert counts == {0: 1, 2: 3, 7: 1}  # minutes ago -> events


def test_the_figures_are_cached_for_five_seconds(
    client: Any, tenant: Any, funnel: str, clock: list[datetime]
) -> None:
    key = {"X-Publishable-Key": tenant.publishable_key}
    client.post(TRACK, json=event(funnel, visitor_id="a"), headers=key)
    first = realtime(client, funnel, tenant.headers).json()
    client.post(TRACK, json=event(funnel, visitor_id="b"), headers=key)
    assert realtime(client, funnel, tenant.headers).json() == first
    from api.routes import analytics

    analytics._realtime_cache.clear()  # what 5 seconds would do
    assert realtime(client, funnel, tenant.headers).json()["active_visitors"] == 2


def test_another_accounts_funnel_is_404_and_the_publishable_key_is_not_enough(
    client: Any, tenant: Any, other_tenant: Any, funnel: str
) -> None:
    assert realtime(client, funnel, other_tenant.headers).status_code == 404
    assert realtime(client, str(uuid.uuid4()), tenant.headers).status_code == 404
    r = realtime(client, funnel, {"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 401
