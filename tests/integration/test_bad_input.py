"""No input, however malformed, produces a 5xx; every error has the one JSON shape."""

from __future__ import annotations

from typing import Any

import pytest


def _assert_error_shape(r: Any, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["code"], str)
    if code:
        assert body["code"] == code


def test_malformed_json_is_422(client: Any, tenant: Any) -> None:
    r = client.post(
        "/api/v1/products",
        content=b'{"name": "x", "price_cents": ',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _assert_error_shape(r, 422, "validation_error")


def test_body_over_the_limit_is_413(client: Any, tenant: Any) -> None:
    huge = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    r = client.post(
        "/api/v1/products",
        content=huge,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _assert_error_shape(r, 413, "payload_too_large")


def test_streamed_body_over_the_limit_is_413(client: Any, tenant: Any) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    r = client.post(
        "/api/v1/products",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _assert_error_shape(r, 413, "payload_too_large")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/not-a-uuid",
        "/api/v1/products/00000000-0000-0000-0000-00000000000g",
        "/api/v1/contacts/1",
        "/api/v1/jobs/%00",
    ],
)
def test_bad_uuid_in_path_is_422(client: Any, tenant: Any, path: str) -> None:
    _assert_error_shape(client.get(path, headers=tenant.headers), 422, "validation_error")


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=99999999999999999999999",
        "page_size=101",
        "page_size=0",
        "active=maybe",
        "search=%00",
        "search=" + "x" * 300,
    ],
)
def test_bad_query_params_are_422(client: Any, tenant: Any, query: str) -> None:
    _assert_error_shape(client.get(f"/api/v1/products?{query}", headers=tenant.headers), 422)


def test_unknown_ids_are_404(client: Any, tenant: Any) -> None:
    for path in (
        "/api/v1/products/7d1e1c8e-1111-4111-8111-111111111111",
        "/api/v1/contacts/7d1e1c8e-1111-4111-8111-111111111111",
        "/api/v1/jobs/7d1e1c8e-1111-4111-8111-111111111111",
    ):
        _assert_error_shape(client.get(path, headers=tenant.headers), 404, "not_found")


def test_unknown_route_and_wrong_method_have_the_error_shape(client: Any) -> None:
    _assert_error_shape(client.get("/api/v1/nope"), 404, "not_found")
    _assert_error_shape(client.put("/health"), 405, "method_not_allowed")


def test_missing_auth_is_401_json(client: Any) -> None:
    _assert_error_shape(client.get("/api/v1/products"), 401, "not_authenticated")


def test_wrong_content_type_and_weird_bodies_are_4xx(client: Any, tenant: Any) -> None:
    bodies: list[tuple[bytes, str]] = [
        (b"name=x", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"null", "application/json"),
        (b'{"name": "x", "price_cents": 1e400, "currency": "USD"}', "application/json"),
        (b'{"name": "x", "price_cents": 100, "currency": "USD"}' * 2, "application/json"),
    ]
    for body, content_type in bodies:
        r = client.post(
            "/api/v1/products",
            content=body,
            headers={**tenant.headers, "Content-Type": content_type},
        )
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert client.get("/api/v1/products", headers=tenant.headers).json()["total"] == 0


def test_register_and_login_validation(client: Any) -> None:
    bad = [
        {"email": "not-an-email", "password": "long enough", "account_name": "A"},
        {"email": "a@example.com", "password": "short", "account_name": "A"},
        {"email": "a@example.com", "password": "long enough", "account_name": ""},
        {"email": "a@example.com", "password": 12345678, "account_name": "A"},
    ]
    for body in bad:
        _assert_error_shape(
            client.post("/api/v1/auth/register", json=body), 422, "validation_error"
        )
    _assert_error_shape(client.post("/api/v1/auth/login", json={"email": "x"}), 422)
    _assert_error_shape(client.post("/api/v1/auth/refresh", json={}), 422)
    _assert_error_shape(client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"}), 401)
