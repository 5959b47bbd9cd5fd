"""Shared checks of the isolation and bad-input tests: filling id templates, garbage bodies."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def fill(value: Any, ids: dict[str, str]) -> Any:
    """A JSON value with "{name}" templates in its strings filled from ids."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def assert_garbage_refused(
    client: TestClient, method: str, url: str, headers: dict[str, str], bodies: list[Any]
) -> None:
    """Each body (a str is sent as raw JSON text) gets a 4xx with the JSON error shape."""
    for body in bodies:
        kwargs: dict[str, Any] = (
            {"content": body, "headers": {**headers, "Content-Type": "application/json"}}
            if isinstance(body, str)
            else {"json": body, "headers": headers}
        )
        r = client.request(method, url, **kwargs)
        assert 400 <= r.status_code < 500, f"{body!r}: {r.status_code} {r.text}"
        err = r.json()
        assert isinstance(err["error"], str)
        assert isinstance(err["code"], str)
