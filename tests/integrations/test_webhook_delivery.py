"""Deliveries over days of simulated time to a real receiver: the schedule, failure, recovery,
disabling; the answers that change the schedule (410, 429, 3xx)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from domain.integrations.webhooks.models import WebhookDelivery
from domain.jobs.schedules import retry_schedule
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent
from domain.shared.settings import get_settings
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import (
    BASE,
    WebhookTime,
    attempts_of,
    contact_ids_in,
    deliveries_of,
    load_webhook,
    record_contact_created,
    subscribe,
    webhook_time,
)

HOUR = 3600.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 (the tests stop and start it)."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def sim(tenant: Any) -> Iterator[WebhookTime]:
    """Simulated time for the tenant's webhooks."""
    with webhook_time([tenant.account_id]) as s:
        yield s


def _url(receiver: Receiver) -> str:
    return f"http://127.0.0.1:{receiver.port}/hook"


def _assert_within_schedule(delivery: WebhookDelivery) -> list[float]:
    """Each gap between two attempts is its schedule's wait, jittered by at most RETRY_JITTER."""
    waits = retry_schedule("webhooks")
    jitter = get_settings().retry_jitter
    times = [a.attempted_at for a in attempts_of(delivery.id)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert (times[0] - delivery.created_at).total_seconds() == 0  # the first try is immediate
    for gap, wait in zip(gaps, waits, strict=False):
        assert wait * (1 - jitter) - 0.001 <= gap <= wait * (1 + jitter) + 0.001, (gap, wait)
    return gaps


def test_a_day_long_outage_loses_nothing_and_keeps_the_schedule(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    port = receiver.port
    receiver.stop()  # down: connections refused
    sent = []
    for _ in range(6):  # an event every 4 hours through the outage, the first at its start
        sent.append(str(record_contact_created(tenant.account_id)))
        sim.advance(hours=4)
    receiver.start(port=port)  # back after 24 hours
    sim.advance(hours=12)

    got = contact_ids_in([r.body for r in receiver.requests])
    assert sorted(got) == sorted(sent)  # every event, each once
    rows = deliveries_of(endpoint["id"])
    assert {d.status for d in rows} == {"succeeded"}
    first = rows[0]
    gaps = _assert_within_schedule(first)
    assert len(gaps) == 7  # the first event needed all 8 attempts (about 27.6 h)
    assert all(a.status_code is None and a.error for a in attempts_of(first.id)[:-1])
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == len(ids) == 6
    assert load_webhook(endpoint["id"]).failing_since is None  # success reset the clock


def test_past_the_schedule_deliveries_fail_and_recover_sends_them(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    receiver.status = 500
    sent = [str(record_contact_created(tenant.account_id)) for _ in range(3)]
    sim.advance(hours=40)
    rows = deliveries_of(endpoint["id"])
    assert [(d.status, d.attempts) for d in rows] == [("failed", 8)] * 3
    _assert_within_schedule(rows[0])
    listed = client.get(f"{BASE}/{endpoint['id']}/deliveries?status=failed", headers=tenant.headers)
    assert listed.json()["total"] == 3
    assert len(listed.json()["items"][0]["attempt_log"]) == 8

    receiver.status = 200
    receiver.requests.clear()
    since = (rows[0].created_at - timedelta(minutes=1)).isoformat()
    r = client.post(
        f"{BASE}/{endpoint['id']}/recover", json={"since": since}, headers=tenant.headers
    )
    assert r.status_code == 202, r.text
    sim.advance(seconds=1)
    assert sorted(contact_ids_in([q.body for q in receiver.requests])) == sorted(sent)
    assert {d.status for d in deliveries_of(endpoint["id"])} == {"succeeded"}
    # Retries kept the webhook-id of each delivery: receivers can deduplicate.
    assert {q.headers["webhook-id"] for q in receiver.requests} == {f"msg_{d.id.hex}" for d in rows}


def test_failing_for_five_days_disables_then_and_not_before(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    receiver.status = 500
    start = sim.now
    limit = timedelta(days=get_settings().webhook_disable_after_days)
    # A success on day 2 resets the clock: the five days count from the failure after it.
    record_contact_created(tenant.account_id)
    sim.advance(days=2)
    receiver.status = 200
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    assert load_webhook(endpoint["id"]).failing_since is None
    receiver.status = 500
    restart = sim.now
    while sim.now < restart + limit + timedelta(hours=24):
        record_contact_created(tenant.account_id)
        webhook = load_webhook(endpoint["id"])
        if sim.now - restart < limit:
            assert webhook.enabled, f"disabled after {sim.now - restart}"
        sim.advance(hours=12)
    webhook = load_webhook(endpoint["id"])
    assert not webhook.enabled
    assert webhook.disabled_at is not None
    assert restart + limit <= webhook.disabled_at <= restart + limit + timedelta(hours=12)
    assert webhook.disabled_at - start > limit  # not counted from the first failure
    assert webhook.disabled_reason == "failing for 5 days"
    with unit_of_work() as session:
        told = session.query(DomainEvent).filter_by(
            account_id=tenant.account_id, type="webhook.endpoint_disabled"
        )
        assert [e.payload["webhook_id"] for e in told] == [endpoint["id"]]
    assert {d.status for d in deliveries_of(endpoint["id"])} <= {"succeeded", "failed"}
    answer = client.get(f"{BASE}/{endpoint['id']}", headers=tenant.headers).json()
    assert answer["enabled"] is False
    assert answer["health"]["pending_deliveries"] == 0


def test_gone_disables_at_once(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    receiver.status = 410
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    webhook = load_webhook(endpoint["id"])
    assert (webhook.enabled, webhook.disabled_reason) == (False, "answered 410 Gone")
    assert [(d.status, d.attempts) for d in deliveries_of(endpoint["id"])] == [("failed", 1)]


@pytest.mark.parametrize(
    ("status", "headers", "least_wait"),
    [
        (429, {"Retry-After": "600"}, 600.0),  # honoured beyond the 5 s step
        (503, {"Retry-After": "999999"}, HOUR),  # capped at WEBHOOK_RETRY_AFTER_CAP_SECONDS
        (302, {"Location": "http://127.0.0.1:9/"}, 4.5),  # a failure, not followed
        (500, {}, 4.5),
    ],
)
def test_answers_that_are_failures_and_what_they_wait(
    client: Any,
    tenant: Any,
    receiver: Receiver,
    sim: WebhookTime,
    status: int,
    headers: dict[str, str],
    least_wait: float,
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    receiver.status = status
    receiver.headers = headers
    record_contact_created(tenant.account_id)
    sim.advance(seconds=0)
    [delivery] = deliveries_of(endpoint["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "pending",
        1,
        status,
    )
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - delivery.created_at).total_seconds()
    assert least_wait <= wait <= max(least_wait, 5.5)
    assert receiver.connections == 1


def test_redeliver_sends_again_with_the_same_webhook_id(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    [delivery] = deliveries_of(endpoint["id"])
    assert delivery.status == "succeeded"
    r = client.post(
        f"{BASE}/{endpoint['id']}/deliveries/{delivery.id}/redeliver", headers=tenant.headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    sim.advance(seconds=1)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{delivery.id.hex}"
    assert first.body == second.body
    assert len(attempts_of(delivery.id)) == 2


def test_send_test_event_and_health(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    endpoint = subscribe(client, tenant.headers, _url(receiver))
    r = client.post(f"{BASE}/{endpoint['id']}/test", headers=tenant.headers)
    assert r.status_code == 202, r.text
    sim.advance(seconds=1)
    job = client.get(r.headers["Location"], headers=tenant.headers).json()
    assert job["status"] == "succeeded"
    [received] = receiver.requests
    assert received.headers["webhook-id"] == f"msg_{uuid.UUID(job['result']['delivery_id']).hex}"
    receiver.status = 500
    record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    health = client.get(f"{BASE}/{endpoint['id']}", headers=tenant.headers).json()["health"]
    assert health["attempts_24h"] == 2
    assert health["success_rate_24h"] == 0.5
    assert health["pending_deliveries"] == 1
    assert health["oldest_undelivered_at"] is not None
    assert health["failing_since"] is not None
    sim.advance(minutes=3)  # the retry waits (5 min): the oldest undelivered ages
    gauge = next(
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("funnels_webhook_oldest_undelivered_seconds ")
    )
    assert float(gauge.split()[1]) >= 180


def test_an_endpoint_gets_only_its_types_and_events_after_it_was_created(
    client: Any, tenant: Any, receiver: Receiver, sim: WebhookTime
) -> None:
    before = record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    endpoint = subscribe(client, tenant.headers, _url(receiver), ["contact.created"])
    other = subscribe(client, tenant.headers, _url(receiver), ["order.paid"])
    after = record_contact_created(tenant.account_id)
    sim.advance(seconds=1)
    assert contact_ids_in([q.body for q in receiver.requests]) == [str(after)]
    assert str(before) not in str([d.body for d in deliveries_of(endpoint["id"])])
    assert deliveries_of(other["id"]) == []
