"""Rate limits that fit clients who poll: burst and daily windows, per-address public budgets.

A polling client overrunning the burst window waits seconds, not an hour; an anonymous
publishable-key caller spends its own address's budget, not the merchant's; X-Forwarded-For
names the client only when the peer is a trusted proxy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import client_ip
from domain.shared.settings import Settings, get_settings
from tests.support.funnels import live_checkout
from tests.support.orders import place_order

PUBLIC = "/api/v1/_probe/public"


@pytest.fixture
def limits(app: Any) -> Iterator[Any]:
    """Override settings for one test; the rest of the suite keeps its generous limits."""

    def set_limits(**values: Any) -> Settings:
        settings = get_settings().model_copy(update=values)
        app.dependency_overrides[get_settings] = lambda: settings
        return settings

    yield set_limits
    app.dependency_overrides.pop(get_settings, None)


def _defaults() -> dict[str, Any]:
    """The shipped rate-limit settings (the suite's own are far larger)."""
    names = [name for name in Settings.model_fields if name.startswith("rate_limit_")]
    return {name: Settings.model_fields[name].default for name in names} | {
        "trusted_proxies": Settings.model_fields["trusted_proxies"].default
    }


def _peer(app: Any, address: str) -> TestClient:
    """A client whose requests arrive from this peer address."""
    return TestClient(app, raise_server_exceptions=False, client=(address, 40000))


def test_shipped_defaults_are_burst_and_daily_windows() -> None:
    defaults = _defaults()
    assert defaults["rate_limit_user"] == "100/10 seconds;200000/day"
    assert defaults["rate_limit_account"] == "1000/10 seconds;1000000/day"
    assert defaults["trusted_proxies"] == ""
    # Every default parses, and no caller window is longer than a day.
    Settings(**defaults)


def test_a_polling_client_overrunning_the_burst_waits_seconds_not_an_hour(
    app: Any, client: TestClient, tenant: Any, standin: Any, limits: Any
) -> None:
    order = place_order(client, tenant.headers, live_checkout(client, tenant.headers))
    limits(**_defaults())
    url = f"/api/v1/orders/{order['id']}"
    statuses: list[int] = []
    retry_afters: list[int] = []
    for _ in range(1000):  # a client that polls its order as fast as it can
        r = client.get(url, headers=tenant.headers)
        statuses.append(r.status_code)
        if r.status_code == 429:
            retry_afters.append(int(r.headers["Retry-After"]))
            assert r.json()["retry_after"] == retry_afters[-1]
            assert int(r.headers["X-RateLimit-Reset"]) <= math.ceil(time.time() + 10)
            assert r.headers["X-RateLimit-Limit"] == "100"
    assert statuses[:100] == [200] * 100
    assert set(statuses[100:]) <= {200, 429}
    assert retry_afters
    assert max(retry_afters) <= 10
    # Following Retry-After once is enough: the next poll is answered.
    time.sleep(retry_afters[-1])
    r = client.get(url, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert int(r.headers["X-RateLimit-Remaining"]) >= 98


def test_refused_requests_do_not_spend_the_daily_budget(
    client: TestClient, tenant: Any, limits: Any
) -> None:
    limits(rate_limit_user="2/10 seconds;5/day", rate_limit_account="100/10 seconds")
    statuses = [client.get("/api/v1/products", headers=tenant.headers).status_code for _ in "x" * 8]
    assert statuses == [200, 200] + [429] * 6
    # Two requests were answered: the daily window has 3 left, whatever was refused.
    limits(rate_limit_user="100/10 seconds;5/day", rate_limit_account="100/10 seconds")
    r = client.get("/api/v1/products", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "2"
    assert r.headers["X-RateLimit-Limit"] == "5"


def test_one_anonymous_address_cannot_spend_the_merchants_public_budget(
    app: Any, tenant: Any, limits: Any
) -> None:
    limits(rate_limit_tracking_client="3/10 seconds", rate_limit_tracking="1000/10 seconds")
    key = {"X-Publishable-Key": tenant.publishable_key}
    with _peer(app, "198.51.100.1") as greedy, _peer(app, "198.51.100.2") as buyer:
        statuses = [greedy.get(PUBLIC, headers=key).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        r = buyer.get(PUBLIC, headers=key)
        assert r.status_code == 200, r.text
        assert r.headers["X-RateLimit-Remaining"] == "2"


def test_the_account_wide_public_budget_still_caps_all_addresses(
    app: Any, tenant: Any, limits: Any
) -> None:
    limits(rate_limit_tracking_client="100/10 seconds", rate_limit_tracking="3/10 seconds")
    key = {"X-Publishable-Key": tenant.publishable_key}
    statuses = []
    for n in range(4):
        with _peer(app, f"198.51.100.{10 + n}") as visitor:
            statuses.append(visitor.get(PUBLIC, headers=key).status_code)
    assert statuses == [200, 200, 200, 429]


def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    app: Any, tenant: Any, limits: Any
) -> None:
    limits(rate_limit_tracking_client="2/10 seconds", trusted_proxies="10.0.0.0/8")
    key = {"X-Publishable-Key": tenant.publishable_key}
    with _peer(app, "203.0.113.50") as spoofer:
        statuses = [
            spoofer.get(PUBLIC, headers={**key, "X-Forwarded-For": f"192.0.2.{n}"}).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 429, 429]  # a fresh forged address each time changes nothing


def test_forwarded_for_is_honoured_from_a_trusted_proxy(app: Any, tenant: Any, limits: Any) -> None:
    limits(rate_limit_tracking_client="2/10 seconds", trusted_proxies="10.0.0.0/8, 172.16.0.0/12")
    key = {"X-Publishable-Key": tenant.publishable_key}
    with _peer(app, "10.1.2.3") as proxy:

        def status(forwarded: str) -> int:
            return proxy.get(PUBLIC, headers={**key, "X-Forwarded-For": forwarded}).status_code

        # The right-most untrusted address is the client; what it wrote to the left is not.
        assert [status("192.0.2.7, 172.16.0.9"), status("6.6.6.6, 192.0.2.7")] == [200, 200]
        assert status("7.7.7.7, 192.0.2.7, 172.20.1.1") == 429
        assert status("192.0.2.8") == 200  # another client behind the same proxy


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "192.0.2.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", None, "10.0.0.2"),  # trusted peer, no header: the peer
        ("10.0.0.2", "192.0.2.1", "192.0.2.1"),
        ("10.0.0.2", "1.1.1.1, 192.0.2.1, 10.9.9.9", "192.0.2.1"),
        ("10.0.0.2", "10.3.3.3, 10.4.4.4", "10.3.3.3"),  # all trusted: the left-most
        ("10.0.0.2", "not-an-ip, 192.0.2.1", "192.0.2.1"),
        ("10.0.0.2", "192.0.2.1, garbage", "10.0.0.2"),  # a hop we cannot read: stop there
        ("::ffff:10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("testclient", "192.0.2.1", "testclient"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    from starlette.requests import Request

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "client": (peer, 1), "headers": headers})
    settings = Settings(trusted_proxies="10.0.0.0/8")
    assert client_ip(request, settings) == expected


def test_a_request_is_counted_once_whatever_it_carries(tenant: Any) -> None:
    from starlette.requests import Request

    from api.ratelimit import Budget, count_request

    settings = get_settings().model_copy(update={"rate_limit_tracking": "10/10 seconds"})
    budget = [Budget(settings.rate_limit_tracking, f"tracking:{tenant.account_id}")]

    def remaining(request: Request) -> int:
        return int(request.scope["funnels.rate_limit_headers"]["X-RateLimit-Remaining"])

    batch = Request({"type": "http", "client": ("192.0.2.1", 1), "headers": []})
    for _event in range(5):  # a batch of events asking five times still costs one request
        count_request(batch, settings, budget)
    assert remaining(batch) == 9
    second = Request({"type": "http", "client": ("192.0.2.1", 1), "headers": []})
    count_request(second, settings, budget)
    assert remaining(second) == 8
