"""The product catalogue: CRUD, validation, paging, tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.tenancy import assert_isolated


def _create(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {"name": "Course", "price_cents": 4900, "currency": "usd", **overrides}
    r = client.post("/api/v1/products", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_read_update_archive(client: Any, tenant: Any) -> None:
    product = _create(client, tenant.headers, description="All lessons")
    assert product["currency"] == "USD"
    assert product["price_cents"] == 4900
    path = f"/api/v1/products/{product['id']}"
    assert client.get(path, headers=tenant.headers).json() == product

    r = client.patch(path, json={"price_cents": 5900, "description": None}, headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["price_cents"] == 5900
    assert r.json()["description"] is None
    assert r.json()["name"] == "Course"

    assert client.delete(path, headers=tenant.headers).status_code == 204
    listed = client.get("/api/v1/products", headers=tenant.headers).json()
    assert listed["total"] == 0
    archived = client.get("/api/v1/products?include_archived=true", headers=tenant.headers).json()
    assert archived["total"] == 1
    assert archived["items"][0]["archived_at"] is not None
    assert client.get(path, headers=tenant.headers).json()["active"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "price_cents": 100, "currency": "USD"},
        {"name": "X", "price_cents": -1, "currency": "USD"},
        {"name": "X", "price_cents": 1.5, "currency": "USD"},
        {"name": "X", "price_cents": "100", "currency": "USD"},
        {"name": "X", "price_cents": 10**13, "currency": "USD"},
        {"name": "X", "price_cents": 100, "currency": "DOLLARS"},
        {"name": "X", "price_cents": 100},
        {"name": "X", "price_cents": 100, "currency": "USD", "unknown": 1},
        {"name": "X\x00", "price_cents": 100, "currency": "USD"},
        [],
        "text",
    ],
)
def test_invalid_create_is_422_and_creates_nothing(client: Any, tenant: Any, body: Any) -> None:
    r = client.post("/api/v1/products", json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["code"] == "validation_error"
    assert error["details"]
    assert all({"loc", "msg", "type"} <= set(d) for d in error["details"])
    assert client.get("/api/v1/products", headers=tenant.headers).json()["total"] == 0


@pytest.mark.parametrize(
    "patch", [{"name": None}, {"price_cents": None}, {"currency": "usdx"}, {"active": "maybe"}]
)
def test_invalid_patch_is_422_and_changes_nothing(client: Any, tenant: Any, patch: Any) -> None:
    product = _create(client, tenant.headers)
    path = f"/api/v1/products/{product['id']}"
    r = client.patch(path, json=patch, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert client.get(path, headers=tenant.headers).json() == product


def test_list_pages_filters_and_searches(client: Any, tenant: Any) -> None:
    for i in range(5):
        _create(client, tenant.headers, name=f"Item {i}", active=i % 2 == 0)
    _create(client, tenant.headers, name="100%_literal")
    page = client.get("/api/v1/products?page=2&page_size=2", headers=tenant.headers).json()
    assert page["total"] == 6
    assert page["page"] == 2
    assert page["page_size"] == 2
    assert len(page["items"]) == 2
    inactive = client.get("/api/v1/products?active=false", headers=tenant.headers).json()
    assert inactive["total"] == 2
    # Wildcards in the search term are literal.
    found = client.get("/api/v1/products", params={"search": "%_"}, headers=tenant.headers).json()
    assert [p["name"] for p in found["items"]] == ["100%_literal"]


def test_another_account_gets_404_and_changes_nothing(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    product = _create(client, tenant.headers)
    path = f"/api/v1/products/{product['id']}"
    assert_isolated(
        client,
        other_tenant.headers,
        [("GET", path, None), ("PATCH", path, {"price_cents": 1}), ("DELETE", path, None)],
        snapshot=lambda: client.get(path, headers=tenant.headers).json(),
    )
    assert client.get("/api/v1/products", headers=other_tenant.headers).json()["total"] == 0
