"""Recording an API key's last use never makes concurrent requests with the key queue.

It used to be an UPDATE in the request's own transaction: the key's row stayed locked until
the request ended (Stripe calls included), and every other request with that key waited.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from domain.accounts.models import ApiKey
from domain.shared.db import unit_of_work
from tests.support import probe_routes
from tests.support.funnels import ok


def _last_used(key_id: str) -> Any:
    with unit_of_work() as session:
        return session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))


def test_a_long_request_does_not_hold_up_others_with_the_same_key(app: Any, tenant: Any) -> None:
    with TestClient(app, raise_server_exceptions=False) as setup:
        created = ok(
            setup.post("/api/v1/api-keys", json={"name": "s2s"}, headers=tenant.headers), 201
        )
    key = {"Authorization": f"Bearer {created['key']}"}
    assert _last_used(created["id"]) is None
    probe_routes.HOLD_ENTERED.clear()
    probe_routes.HOLD_RELEASE.clear()
    probe_routes.HOLD_ARMED.set()
    answers: dict[str, int] = {}

    def call(name: str, method: str, url: str) -> None:
        with TestClient(app, raise_server_exceptions=False) as c:
            answers[name] = c.request(method, url, headers=key).status_code

    slow = threading.Thread(target=call, args=("slow", "POST", "/api/v1/_probe/hold"))
    quick = threading.Thread(target=call, args=("quick", "GET", "/api/v1/products"))
    slow.start()
    try:
        assert probe_routes.HOLD_ENTERED.wait(timeout=30), "the long request never started"
        quick.start()
        quick.join(timeout=20)  # generous: before the fix it waited for the release below
        assert not quick.is_alive(), "the second request waited for the first one's transaction"
        assert answers["quick"] == 200
        assert "slow" not in answers
        assert _last_used(created["id"]) is not None  # the use is still recorded
    finally:
        probe_routes.HOLD_ARMED.clear()
        probe_routes.HOLD_RELEASE.set()
        slow.join(timeout=30)
        quick.join(timeout=30)
    assert answers["slow"] == 200
