"""Proving tenant isolation cheaply: another account's object is a 404 and stays unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Request = tuple[str, str, dict[str, Any] | None]


def assert_isolated(
    client: Any,
    intruder_headers: dict[str, str],
    requests: Iterable[Request],
    snapshot: Callable[[], Any],
) -> None:
    """Each (method, path, json) sent by the intruder is a 404 and changes nothing.

    snapshot() reads the owner's state (e.g. GET of the object and of its list) before and
    after; it must come back identical.
    """
    before = snapshot()
    for method, path, body in requests:
        r = client.request(method, path, json=body, headers=intruder_headers)
        assert r.status_code == 404, f"{method} {path} answered {r.status_code}: {r.text}"
        assert r.json()["code"] == "not_found", r.text
    assert snapshot() == before, "the owner's data changed through another account's requests"
