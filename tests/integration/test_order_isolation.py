"""Tenant isolation and bad input across the 12 order routes (SPEC-FUN-003)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.orders.stripe_gateway import gateway
from domain.shared.settings import get_settings
from tests.support.funnels import ok
from tests.support.isolation import assert_garbage_refused, fill
from tests.support.orders import ORDERS, PI_URL, offer_funnel, paid_order, place_order

SPEC_ROUTES = {
    ("POST", "/api/v1/orders/payment-intent"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{order_id}"),
    ("POST", "/api/v1/orders/{order_id}/bumps"),
    ("POST", "/api/v1/orders/{order_id}/upsells"),
    ("POST", "/api/v1/orders/{order_id}/refunds"),
    ("GET", "/api/v1/orders/{order_id}/refunds"),
    ("POST", "/api/v1/orders/{order_id}/complete"),
    ("POST", "/api/v1/orders/{order_id}/cancel"),
    ("GET", "/api/v1/orders/analytics"),
    ("POST", "/api/v1/orders/stripe/webhook"),
}


@dataclass
class World:
    """Two accounts, each with a live offer funnel; the owner has a paid and an open order."""

    client: TestClient
    owner: dict[str, str]
    intruder: dict[str, str]
    intruder_key: str
    ids: dict[str, str]

    def path(self, template: str) -> str:
        """A route template filled with the owner's ids."""
        return template.format(**self.ids)

    def snapshot(self) -> Any:
        """Everything the owner can read about the orders the intruder aims at."""
        c, h = self.client, self.owner
        return [
            c.get(f"{ORDERS}/{self.ids['order_id']}", headers=h).json(),
            c.get(f"{ORDERS}/{self.ids['open_order_id']}", headers=h).json(),
            c.get(f"{ORDERS}/{self.ids['order_id']}/refunds", headers=h).json(),
            c.get(ORDERS, headers=h).json()["total"],
        ]


def _register(client: TestClient) -> tuple[dict[str, str], str]:
    email = f"iso-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": "correct horse battery staple", "account_name": "Iso"}
    account = ok(client.post("/api/v1/auth/register", json=body), 201)
    return {"Authorization": f"Bearer {account['access_token']}"}, account["account"][
        "publishable_key"
    ]


@pytest.fixture(scope="module")
def world(app: Any, stripe_server: Any) -> Iterator[World]:
    """Built once for the module: the checks below only read or get refused."""
    with pytest.MonkeyPatch.context() as env, TestClient(app, raise_server_exceptions=False) as c:
        stripe_server.reset()
        env.setenv("STRIPE_API_BASE", stripe_server.base_url)
        get_settings.cache_clear()
        gateway.cache_clear()
        (owner, _), (intruder, intruder_key) = _register(c), _register(c)
        live = offer_funnel(c, owner)
        paid = paid_order(c, owner, live, stripe_server)
        ok(c.post(f"{ORDERS}/{paid['id']}/refunds", json={"amount_cents": 100}, headers=owner), 202)
        open_order = place_order(c, owner, live)
        ids = {
            "order_id": paid["id"],
            "open_order_id": open_order["id"],
            "payment_intent_id": open_order["payment_intent_id"],
            "funnel_id": live["funnel"]["id"],
            "order_form_id": live["steps"]["order_form"]["id"],
            "upsell_id": live["steps"]["upsell"]["id"],
            "bump_id": live["steps"]["order_form"]["bump_product_ids"][0],
        }
        yield World(c, owner, intruder, intruder_key, ids)
    get_settings.cache_clear()
    gateway.cache_clear()


# Routes that name an owner's order: the intruder gets 404 for each, and nothing changes.
OBJECT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/orders/{order_id}", None),
    ("POST", "/api/v1/orders/{open_order_id}/bumps", {"product_id": "{bump_id}"}),
    ("POST", "/api/v1/orders/{order_id}/upsells", {"step_id": "{upsell_id}", "decision": "accept"}),
    ("POST", "/api/v1/orders/{order_id}/refunds", {"amount_cents": 100}),
    ("GET", "/api/v1/orders/{order_id}/refunds", None),
    ("POST", "/api/v1/orders/{order_id}/complete", None),
    ("POST", "/api/v1/orders/{open_order_id}/cancel", None),
]


@pytest.mark.parametrize(
    ("method", "template", "body"), OBJECT_ROUTES, ids=[f"{m} {t}" for m, t, _ in OBJECT_ROUTES]
)
def test_another_accounts_order_is_a_404(
    world: World, method: str, template: str, body: Any
) -> None:
    before = world.snapshot()
    url, body = world.path(template), fill(body, world.ids)
    r = world.client.request(method, url, json=body, headers=world.intruder)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"
    if method == "POST" and template.endswith(("bumps", "upsells")):
        # A checkout page of the other account, with its publishable key: the same 404.
        pk = {"X-Publishable-Key": world.intruder_key}
        r = world.client.post(url, json={**body, "customer_token": "x"}, headers=pk)
        assert r.status_code == 404, r.text
    assert world.snapshot() == before


def test_lists_show_only_the_callers_orders(world: World) -> None:
    c, h = world.client, world.intruder
    assert c.get(ORDERS, headers=h).json()["total"] == 0
    assert (
        c.get(ORDERS, params={"funnel_id": world.ids["funnel_id"]}, headers=h).json()["total"] == 0
    )
    assert c.get(ORDERS, headers=world.owner).json()["total"] == 2


def test_another_accounts_funnel_and_payment_intent_are_refused(world: World) -> None:
    c, h = world.client, world.intruder
    before = world.snapshot()
    cart = {"funnel_id": world.ids["funnel_id"], "step_id": world.ids["order_form_id"]}
    r = c.post(PI_URL, json=cart, headers=h)
    assert r.status_code == 404, r.text
    r = c.post(PI_URL, json=cart, headers={"X-Publishable-Key": world.intruder_key})
    assert r.status_code == 404, r.text
    # The owner's PaymentIntent, claimed for the intruder's own live funnel: refused.
    theirs = offer_funnel(c, h)
    body = {
        **theirs["body"],
        "payment_intent_id": world.ids["payment_intent_id"],
        "customer": {"email": "thief@example.com"},
    }
    r = c.post(ORDERS, json=body, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "payment_intent_mismatch"
    assert c.get(ORDERS, headers=h).json()["total"] == 0
    assert world.snapshot() == before


def test_the_openapi_document_has_every_spec_route(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    present = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert present >= SPEC_ROUTES, SPEC_ROUTES - present
    for method, path in SPEC_ROUTES:
        op = spec["paths"][path][method.lower()]
        assert any(code.startswith("2") for code in op["responses"]), f"{method} {path}"
    covered = {(m, t.replace("{open_order_id}", "{order_id}")) for m, t, _ in OBJECT_ROUTES}
    unscoped = {
        ("POST", "/api/v1/orders/payment-intent"),
        ("POST", "/api/v1/orders"),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/orders/analytics"),
        ("POST", "/api/v1/orders/stripe/webhook"),
    }
    assert covered | unscoped == SPEC_ROUTES


GARBAGE_BODIES: list[Any] = [
    "not json",
    [],
    [1, 2, 3],
    {"unexpected": True},
    {"funnel_id": 5},
    {"step_id": "x" * 10_000},
    {"product_id": "A\u0000B"},
    {"decision": "maybe"},
    {"amount_cents": -5},
    {"amount_cents": 10**20},
    {"amount_cents": "12"},
    {"payment_intent_id": "not-a-pi"},
    {"price_cents": 1},
    {"key": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
]
WRITE_ROUTES = [
    "/api/v1/orders/payment-intent",
    "/api/v1/orders",
    "/api/v1/orders/{open_order_id}/bumps",
    "/api/v1/orders/{order_id}/upsells",
    "/api/v1/orders/{order_id}/refunds",
]


@pytest.mark.parametrize("template", WRITE_ROUTES)
def test_garbage_bodies_are_4xx_and_change_nothing(world: World, template: str) -> None:
    before = world.snapshot()
    assert_garbage_refused(world.client, "POST", world.path(template), world.owner, GARBAGE_BODIES)
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/orders/not-a-uuid"),
        ("GET", "/api/v1/orders?status=shipped"),
        ("GET", "/api/v1/orders?payment_status=maybe"),
        ("GET", "/api/v1/orders?created_from=yesterday"),
        ("GET", "/api/v1/orders?created_from=2026-01-01T00:00:00"),
        ("GET", "/api/v1/orders?funnel_id=nope"),
        ("GET", "/api/v1/orders?page=0"),
        ("GET", "/api/v1/orders/{order_id}/refunds?page_size=1000"),
        ("POST", "/api/v1/orders/not-a-uuid/cancel"),
        ("POST", "/api/v1/orders/not-a-uuid/complete"),
        ("POST", "/api/v1/orders/{order_id}/cancel"),
        ("POST", "/api/v1/orders/{open_order_id}/complete"),
        ("POST", "/api/v1/orders/{open_order_id}/refunds"),
        ("POST", "/api/v1/orders/stripe/webhook"),
    ],
)
def test_bad_parameters_and_wrong_states_are_4xx_and_change_nothing(
    world: World, method: str, path: str
) -> None:
    before = world.snapshot()
    r = world.client.request(method, world.path(path), headers=world.owner, json={})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["code"], str)
    assert world.snapshot() == before


def test_unknown_orders_of_the_callers_own_account_are_404(world: World) -> None:
    missing = str(uuid.uuid4())
    for method, path in [
        ("GET", f"{ORDERS}/{missing}"),
        ("GET", f"{ORDERS}/{missing}/refunds"),
        ("POST", f"{ORDERS}/{missing}/complete"),
        ("POST", f"{ORDERS}/{missing}/cancel"),
    ]:
        r = world.client.request(method, path, headers=world.owner)
        assert r.status_code == 404, f"{method} {path}: {r.text}"
