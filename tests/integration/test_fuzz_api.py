"""Property-based fuzzing of every endpoint from the OpenAPI document: never a 5xx."""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings


def _app() -> Any:
    # Module import happens after conftest's pytest_configure set the test servers' URLs.
    from api.main import create_app

    return create_app()


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
_bearer: dict[str, str] = {}


def _owner() -> dict[str, str]:
    """A logged-in owner's Authorization header, registered once."""
    if not _bearer:
        from fastapi.testclient import TestClient

        with TestClient(APP) as client:
            r = client.post(
                "/api/v1/auth/register",
                json={
                    "email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com",
                    "password": "fuzzing password",
                    "account_name": "Fuzz",
                },
            )
        _bearer["Authorization"] = f"Bearer {r.json()['access_token']}"
    return _bearer


@schema.parametrize()
@settings(
    max_examples=30,
    derandomize=True,  # the same examples every run: CI failures reproduce
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_produces_a_server_error(case: Any) -> None:
    # Both with and without the owner's token: the auth layer and the routes behind it.
    for headers in ({}, _owner()):
        response = case.call(headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:500]}"
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("error"), str), body
            assert isinstance(body.get("code"), str), body
