"""Rate limits: per user, per account, the strict login budget; headers on every answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from domain.shared.settings import Settings, get_settings


@pytest.fixture
def limits(app: Any) -> Iterator[Any]:
    """Override the limits for one test; the rest of the suite keeps its generous ones."""

    def set_limits(**values: str) -> None:
        settings = get_settings().model_copy(update=values)
        app.dependency_overrides[get_settings] = lambda: settings

    yield set_limits
    app.dependency_overrides.pop(get_settings, None)


def test_headers_on_every_limited_answer_and_429_past_the_user_budget(
    client: Any, tenant: Any, limits: Any
) -> None:
    limits(rate_limit_user="3/hour", rate_limit_account="100/hour")
    remaining = []
    for _ in range(3):
        r = client.get("/api/v1/products", headers=tenant.headers)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert int(r.headers["X-RateLimit-Reset"]) > time.time()
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    # Errors of a limited route carry the headers too.
    r = client.get("/api/v1/products/not-a-uuid", headers=tenant.headers)
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "rate_limited"
    assert body["error"] == "Rate limit exceeded"
    assert 0 < body["retry_after"] <= 3600
    assert r.headers["Retry-After"] == str(body["retry_after"])
    assert r.headers["X-RateLimit-Remaining"] == "0"


def test_account_budget_is_shared_by_its_callers(client: Any, tenant: Any, limits: Any) -> None:
    keys = []
    for name in ("a", "b"):
        r = client.post("/api/v1/api-keys", json={"name": name}, headers=tenant.headers)
        keys.append({"Authorization": f"Bearer {r.json()['key']}"})
    limits(rate_limit_user="100/hour", rate_limit_account="4/hour")
    statuses = [client.get("/api/v1/products", headers=keys[i % 2]).status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


def test_other_accounts_are_not_affected(
    client: Any, tenant: Any, other_tenant: Any, limits: Any
) -> None:
    limits(rate_limit_user="1/hour", rate_limit_account="1/hour")
    assert client.get("/api/v1/products", headers=tenant.headers).status_code == 200
    assert client.get("/api/v1/products", headers=tenant.headers).status_code == 429
    assert client.get("/api/v1/products", headers=other_tenant.headers).status_code == 200


def test_login_has_its_own_strict_budget_per_email(client: Any, tenant: Any, limits: Any) -> None:
    limits(rate_limit_login="3/minute")
    wrong = {"email": tenant.email, "password": "guess-guess"}
    statuses = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    right = {"email": tenant.email, "password": tenant.password}
    r = client.post("/api/v1/auth/login", json=right)
    assert r.status_code == 429  # even the right password waits: guessing is what it stops
    assert "Retry-After" in r.headers


def test_limits_are_settings(client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit set in the environment is the one the API enforces."""
    monkeypatch.setenv("RATE_LIMIT_USER", "2/minute")
    get_settings.cache_clear()
    try:
        answers = [client.get("/api/v1/products", headers=tenant.headers) for _ in range(3)]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60


def test_malformed_limits_and_proxies_are_refused() -> None:
    s = Settings(rate_limit_user="5/minute", rate_limit_tracking="50000/hour")
    assert (s.rate_limit_user, s.rate_limit_tracking) == ("5/minute", "50000/hour")
    with pytest.raises(ValueError, match="RATE_LIMIT_USER"):
        Settings(rate_limit_user="100 per fortnight")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        Settings(trusted_proxies="10.0.0.0/8, not-a-network")
