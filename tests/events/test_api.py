"""GET /api/v1/events/types: the catalogue, paginated like every list, bearer only."""

from __future__ import annotations

from typing import Any

from domain.events import catalogue

URL = "/api/v1/events/types"


def test_the_catalogue_needs_a_bearer(client: Any) -> None:
    r = client.get(URL)
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def test_the_catalogue_lists_every_type_with_its_payload_schema(client: Any, tenant: Any) -> None:
    r = client.get(URL, params={"page_size": 100}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    names = [t.name for t in catalogue.catalogue()]
    assert body["total"] == len(names)
    assert [item["type"] for item in body["items"]] == names
    paid = next(item for item in body["items"] if item["type"] == "order.paid")
    assert paid["context"] == "orders"
    assert paid["description"] == catalogue.get("order.paid").fires
    schema = paid["payload_schema"]
    assert {"order_id", "amount_cents", "currency"} <= set(schema["required"])
    assert schema["properties"]["order_id"]["format"] == "uuid"
    assert schema["additionalProperties"] is False


def test_the_catalogue_pages(client: Any, tenant: Any) -> None:
    second = client.get(URL, params={"page": 2, "page_size": 5}, headers=tenant.headers).json()
    names = [t.name for t in catalogue.catalogue()]
    assert [item["type"] for item in second["items"]] == names[5:10]
    assert (second["page"], second["page_size"], second["total"]) == (2, 5, len(names))
    r = client.get(URL, params={"page_size": 101}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
