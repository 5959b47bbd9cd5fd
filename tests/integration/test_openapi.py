"""The OpenAPI document states every status and every rule the server applies, and no more."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body

from api.deps import CurrentPrincipal, IfMatchVersion
from tests.support.funnels import FUNNELS, complete_funnel, ok

METHODS = {"get", "put", "post", "patch", "delete"}

# A route as another engineer might add it later, with no `responses=` at all.
later = APIRouter(prefix="/api/v1/widgets")


@later.patch("/{widget_id}")
def patch_widget(
    widget_id: uuid.UUID,
    principal: CurrentPrincipal,
    if_match: IfMatchVersion,
    name: Annotated[str, Body(embed=True)],
) -> dict[str, str]:
    """A route that declares nothing about its errors."""
    return {"name": name}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of a document."""
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_a_route_added_later_documents_its_statuses() -> None:
    from api.main import create_app

    app = create_app()
    app.include_router(later)
    operation = app.openapi()["paths"]["/api/v1/widgets/{widget_id}"]["patch"]
    # credentials and rate limit (its dependency), the id, the body, If-Match
    assert set(operation["responses"]) == {"200", "400", "401", "404", "409", "413", "422", "429"}
    assert "version_conflict" in operation["responses"]["409"]["description"]


def test_every_error_answer_has_the_one_error_body(app: Any) -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["Error"]["required"]) == {"error", "code"}
    assert set(schemas["RateLimitedError"]["required"]) == {"error", "code", "retry_after"}
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            want = "RateLimitedError" if status == "429" else "Error"
            content = response["content"]
            assert list(content) == ["application/json"], (method, path, status)
            assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{want}"}
        if operation.get("security"):
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert {"404", "422"} <= set(operation["responses"]), (method, path)
        if "requestBody" in operation:
            assert {"413", "422"} <= set(operation["responses"]), (method, path)
    assert (
        "Retry-After" in document["paths"]["/api/v1/funnels"]["get"]["responses"]["429"]["headers"]
    )
    assert "403" in document["paths"]["/api/v1/api-keys"]["get"]["responses"]
    assert "Location" in document["paths"]["/api/v1/orders"]["post"]["responses"]["202"]["headers"]


def test_patch_fields_that_may_not_be_null_are_not_nullable(app: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]

    def nullable(model: str, field: str) -> bool:
        """Whether the schema lets the field be null."""
        prop = schemas[model]["properties"][field]
        return any(option.get("type") == "null" for option in prop.get("anyOf", [prop]))

    assert not nullable("FunnelPatch", "name")
    assert not nullable("FunnelPatch", "status")
    assert nullable("FunnelPatch", "description")
    assert nullable("FunnelPatch", "version")
    assert not nullable("StepPatch", "step_type")
    assert nullable("StepPatch", "page_id")
    assert not nullable("PagePatch", "elements")
    assert not nullable("ProductPatch", "price_cents")
    assert nullable("ProductPatch", "description")


@pytest.mark.parametrize(
    "value",
    ["0.5", "1700000000", "2026-01-01", "2026-01-01 00:00:00Z", "2026-01-01T00:00Z"],
)
def test_a_date_time_query_parameter_takes_rfc_3339_only(
    client: Any, tenant: Any, value: str
) -> None:
    r = client.get("/api/v1/orders", params={"created_to": value}, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


def test_rfc_3339_date_times_and_days_are_accepted(client: Any, tenant: Any) -> None:
    for params in (
        {"created_to": "2026-01-01T00:00:00Z"},
        {"created_from": "2026-01-01t00:00:00.5+02:00"},
    ):
        assert (
            client.get("/api/v1/orders", params=params, headers=tenant.headers).status_code == 200
        )
    r = client.get(
        "/api/v1/orders/analytics", params={"date_from": "2026-01-01"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    for bad in ("0", "20260101", "2026-01-01T00:00:00Z"):
        r = client.get(
            "/api/v1/orders/analytics", params={"date_from": bad}, headers=tenant.headers
        )
        assert r.status_code == 422, (bad, r.text)


def test_if_match_takes_what_its_pattern_states(app: Any, client: Any, tenant: Any) -> None:
    parameters = app.openapi()["paths"]["/api/v1/funnels/{funnel_id}"]["patch"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "if-match")["schema"]["pattern"]
    funnel = complete_funnel(client, tenant.headers)
    url = f"{FUNNELS}/{funnel['id']}"
    for value, status in [('""1"', 422), ('"1', 422), ("1 2", 422), ('W/"1"', 200)]:
        assert (re.search(pattern, value) is not None) == (status == 200), value
        r = client.patch(url, json={}, headers={**tenant.headers, "If-Match": value})
        assert r.status_code == status, (value, r.text)


def test_an_integral_number_is_an_integer(client: Any, tenant: Any) -> None:
    # JSON Schema's `integer` includes 4900.0; Python clients send it so.
    body = {"name": "Course", "price_cents": 4900.0, "currency": "usd"}
    product = ok(client.post("/api/v1/products", json=body, headers=tenant.headers), 201)
    assert product["price_cents"] == 4900
    assert product["currency"] == "USD"
    body = {"name": "Course", "price_cents": 4900.5, "currency": "USD"}
    r = client.post("/api/v1/products", json=body, headers=tenant.headers)
    assert r.status_code == 422


def test_the_email_pattern_refuses_what_the_server_refuses(app: Any, client: Any) -> None:
    schema = app.openapi()["components"]["schemas"]["RegisterIn"]["properties"]["email"]
    unique = uuid.uuid4().hex[:12]
    for email, valid in [
        (f"owner-{unique}@example.com", True),
        ("owner@mail.TEST", False),
        ("owner@printer.local", False),
        (f"owner@{'x' * 64}.com", False),
        ("x" * 300 + "@example.com", False),
    ]:
        stated = re.search(schema["pattern"], email) is not None and len(email) <= 254
        assert stated == valid, email
        body = {"email": email, "password": "long enough password", "account_name": "Acme"}
        r = client.post("/api/v1/auth/register", json=body)
        assert (r.status_code == 201) == valid, (email, r.text)


def test_a_405_allows_every_method_of_the_path(client: Any, tenant: Any) -> None:
    r = client.options(f"{FUNNELS}/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 405
    assert r.headers["Allow"] == "DELETE, GET, PATCH"
    assert r.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", f"{FUNNELS}/templates", "GET"),
        ("DELETE", f"{FUNNELS}/from-template", "POST"),
        ("GET", "/api/v1/orders/payment-intent", "POST"),
        ("PATCH", f"{FUNNELS}/{uuid.uuid4()}/steps/order", "PUT"),
    ],
)
def test_a_fixed_path_is_never_read_as_an_id(
    client: Any, tenant: Any, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path, headers=tenant.headers)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == allow
