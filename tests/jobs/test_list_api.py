"""GET /api/v1/jobs: the account's jobs, newest first, paginated, filtered, isolated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from domain.jobs import outbox
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.shared.db import unit_of_work, utcnow
from workers import publisher

URL = "/api/v1/jobs"


@pytest.fixture
def sent() -> Iterator[list[outbox.OutgoingMessage]]:
    """Keep the relay away from the broker: nothing here is meant to run."""
    captured: list[outbox.OutgoingMessage] = []
    outbox.set_publisher(captured.append)
    yield captured
    publisher.install()


def _jobs(account_id: uuid.UUID, specs: list[tuple[str, str]]) -> list[uuid.UUID]:
    """Jobs of (task, status), created one second apart in this order (oldest first)."""
    ids = []
    start = utcnow() - timedelta(minutes=10)
    with unit_of_work() as session:
        for i, (task, status) in enumerate(specs):
            job = jobs.enqueue(session, account_id=account_id, task=task)
            session.flush()
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(status=status, created_at=start + timedelta(seconds=i))
            )
            ids.append(job.id)
    return ids


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_newest_first_paginated_and_filtered(
    client: Any, tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    a, b, c, d = _jobs(
        tenant.account_id,
        [
            ("payments.refund", "failed"),
            ("testing.record", "succeeded"),
            ("payments.refund", "succeeded"),
            ("payments.settle_order", "failed"),
        ],
    )
    r = client.get(URL, params={"page_size": 3}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["total"], body["page"], body["page_size"]) == (4, 1, 3)
    assert _ids(body) == [str(d), str(c), str(b)]
    assert _ids(
        client.get(URL, params={"page_size": 3, "page": 2}, headers=tenant.headers).json()
    ) == [str(a)]
    item = body["items"][0]
    assert (item["task"], item["status"]) == ("payments.settle_order", "failed")

    failed = client.get(URL, params={"status": "failed"}, headers=tenant.headers).json()
    assert (failed["total"], _ids(failed)) == (2, [str(d), str(a)])
    refunds = client.get(URL, params={"task": "payments.refund"}, headers=tenant.headers).json()
    assert _ids(refunds) == [str(c), str(a)]
    both = client.get(
        URL, params={"task": "payments.refund", "status": "failed"}, headers=tenant.headers
    ).json()
    assert (both["total"], _ids(both)) == (1, [str(a)])


BAD_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"status": "done"}, "status"),
    ({"status": "FAILED"}, "status"),
    ({"task": "Payments Refund"}, "task"),
    ({"task": "x" * 101 + ".y"}, "task"),
    ({"page_size": 101}, "page_size"),
    ({"page": 0}, "page"),
]


def test_bad_filters_are_422_naming_the_parameter(client: Any, tenant: Any) -> None:
    for params, field in BAD_FILTERS:
        r = client.get(URL, params=params, headers=tenant.headers)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["code"] == "validation_error"
        assert ["query", field] in [d["loc"] for d in r.json()["details"]], (params, r.text)


def test_another_account_sees_none_of_these_jobs(
    client: Any, tenant: Any, other_tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    [mine] = _jobs(tenant.account_id, [("testing.record", "failed")])
    theirs = client.get(URL, params={"page_size": 100}, headers=other_tenant.headers).json()
    assert theirs["total"] == 0
    assert str(mine) not in _ids(theirs)
    assert client.get(f"{URL}/{mine}", headers=other_tenant.headers).status_code == 404


def test_an_api_key_lists_its_account_jobs(
    client: Any, tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    [job] = _jobs(tenant.account_id, [("testing.record", "succeeded")])
    r = client.post("/api/v1/api-keys", json={"name": "poller"}, headers=tenant.headers)
    key = {"Authorization": f"Bearer {r.json()['key']}"}
    body = client.get(URL, headers=key).json()
    assert _ids(body) == [str(job)]
    assert client.get(URL).status_code == 401
