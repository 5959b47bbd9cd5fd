"""Idempotency-Key: replay, reuse with another body, in progress, scope, 24 hours."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from domain.jobs.models import Job
from domain.shared import idempotency
from domain.shared.db import get_sessionmaker, utcnow
from domain.shared.errors import Conflict
from domain.shared.events import DomainEvent

URL = "/api/v1/_probe/charges"


def _charges(db: Any, account_id: uuid.UUID) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(DomainEvent)
            .where(DomainEvent.account_id == account_id, DomainEvent.type == "probe.charged")
        )
    )


def _jobs(db: Any, account_id: uuid.UUID) -> int:
    return int(db.scalar(select(func.count()).select_from(Job).where(Job.account_id == account_id)))


def test_same_key_same_body_replays_the_first_answer(client: Any, tenant: Any, db: Any) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-1"}
    first = client.post(URL, json={"amount_cents": 500}, headers=headers)
    assert first.status_code == 202
    assert first.headers["Location"] == f"/api/v1/jobs/{first.json()['job_id']}"
    # Key order and whitespace do not make another request.
    second = client.post(
        URL,
        content=b'{ "amount_cents" : 500 }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert _charges(db, tenant.account_id) == 1
    assert _jobs(db, tenant.account_id) == 1


def test_same_key_other_body_is_422_and_changes_nothing(client: Any, tenant: Any, db: Any) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-2"}
    assert client.post(URL, json={"amount_cents": 500}, headers=headers).status_code == 202
    r = client.post(URL, json={"amount_cents": 501}, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert _charges(db, tenant.account_id) == 1


def test_keys_are_scoped_to_the_account(
    client: Any, tenant: Any, other_tenant: Any, db: Any
) -> None:
    for t in (tenant, other_tenant):
        r = client.post(
            URL, json={"amount_cents": 500}, headers={**t.headers, "Idempotency-Key": "shared"}
        )
        assert r.status_code == 202
        assert "Idempotent-Replayed" not in r.headers
    assert _charges(db, tenant.account_id) == 1
    assert _charges(db, other_tenant.account_id) == 1


def test_without_a_key_every_request_acts(client: Any, tenant: Any, db: Any) -> None:
    for _ in range(2):
        assert (
            client.post(URL, json={"amount_cents": 500}, headers=tenant.headers).status_code == 202
        )
    assert _charges(db, tenant.account_id) == 2


def test_a_key_is_kept_24_hours(client: Any, tenant: Any, db: Any) -> None:
    # An API key: an access token would expire during the day this test skips over.
    api_key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=tenant.headers).json()[
        "key"
    ]
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": "order-3"}
    start = utcnow()
    with freeze_time(start):
        assert client.post(URL, json={"amount_cents": 500}, headers=headers).status_code == 202
    with freeze_time(start + timedelta(hours=23, minutes=59)):
        r = client.post(URL, json={"amount_cents": 500}, headers=headers)
        assert r.headers.get("Idempotent-Replayed") == "true"
    assert _charges(db, tenant.account_id) == 1
    with freeze_time(start + timedelta(hours=24, seconds=1)):
        r = client.post(URL, json={"amount_cents": 500}, headers=headers)
        assert r.status_code == 202
        assert "Idempotent-Replayed" not in r.headers
    assert _charges(db, tenant.account_id) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there"])
def test_malformed_keys_are_422(client: Any, tenant: Any, key: str) -> None:
    r = client.post(
        URL, json={"amount_cents": 500}, headers={**tenant.headers, "Idempotency-Key": key}
    )
    assert r.status_code == 422


def test_while_the_first_request_runs_the_second_is_409(tenant: Any) -> None:
    factory = get_sessionmaker()
    fp = idempotency.fingerprint("POST", URL, b'{"amount_cents": 1}')
    first, second = factory(), factory()
    try:
        assert (
            idempotency.begin(
                first, account_id=tenant.account_id, key="k", request_fingerprint=fp, now=utcnow()
            )
            is None
        )
        with pytest.raises(Conflict) as raised:
            idempotency.begin(
                second, account_id=tenant.account_id, key="k", request_fingerprint=fp, now=utcnow()
            )
        assert raised.value.code == "idempotency_key_in_progress"
        assert raised.value.status_code == 409
        second.rollback()
        # A crashed first request (rolled back) leaves the key free, not stuck.
        first.rollback()
        assert (
            idempotency.begin(
                second, account_id=tenant.account_id, key="k", request_fingerprint=fp, now=utcnow()
            )
            is None
        )
    finally:
        first.close()
        second.close()


def test_publishable_key_callers_use_the_tracking_budget(client: Any, tenant: Any) -> None:
    r = client.get("/api/v1/_probe/public", headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.json() == {"account_id": str(tenant.account_id), "kind": "publishable_key"}
    assert r.headers["X-RateLimit-Limit"] == "100000"
    r = client.get(f"/api/v1/_probe/public?key={tenant.publishable_key}")
    assert r.status_code == 200
    assert client.get("/api/v1/_probe/public?key=pk_wrong").status_code == 401
    assert client.get("/api/v1/_probe/public").status_code == 401
