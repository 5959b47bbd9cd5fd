"""No body, in any content type, to any route of the app, produces a 5xx.

The routes come from `app.routes` (included routers flattened), so a route added later is
covered without touching this file. Each hostile body goes to each route three ways: with
no credentials, with the account's publishable key, and with the owner's bearer token (the
auth layer, the body readers before it, and the routes behind it).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

# (content type or None, raw bytes): JSON, text/plain (navigator.sendBeacon), forms, multipart,
# garbage, huge nesting, invalid UTF-8.
_rng = random.Random(11)
_GARBAGE = bytes(_rng.randrange(256) for _ in range(4096))
_DEEP_ARRAY = b"[" * 100_000
_DEEP_OBJECT = b'{"key":' * 50_000
_DEEP_CLOSED = b"[" * 5_000 + b"]" * 5_000
_JUST_PARSEABLE = b'{"key": ' + b"[" * 900 + b"]" * 900 + b"}"

HOSTILE: list[tuple[str | None, bytes]] = [
    ("application/json", _DEEP_ARRAY),
    ("text/plain", _DEEP_ARRAY),
    ("text/plain;charset=UTF-8", _DEEP_OBJECT),
    (None, _DEEP_OBJECT),
    ("application/json", _DEEP_CLOSED),
    ("text/plain", _DEEP_CLOSED),
    ("application/json", _JUST_PARSEABLE),
    ("text/plain", _JUST_PARSEABLE),
    ("application/json", b'{"key": "\xff\xfe\xfd", "name": "\xc3\x28"}'),
    ("text/plain", b'{"key": "\xff\xfe"}'),
    ("application/json; charset=latin-1", b'{"name": "caf\xe9"}'),
    ("text/plain", b'{"key": "\\ud800"}'),
    ("application/json", b'{"key": "\\udfff", "name": "\\ud800x"}'),
    ("application/json", b'{"key": "pk_\\u0000"}'),
    ("application/json", b"9" * 5_000),
    ("application/json", b'{"amount_cents": 1e400, "key": -1e999}'),
    ("application/json", b""),
    ("application/json", b"\x00\x00\x00"),
    ("application/octet-stream", _GARBAGE),
    ("text/plain", _GARBAGE),
    ("application/json", _GARBAGE),
    ("application/x-www-form-urlencoded", b"a=%ff%fe&key=%ud800&" + b"x=1&" * 5_000),
    ("application/x-www-form-urlencoded", _GARBAGE),
    ("multipart/form-data", _GARBAGE),
    ("multipart/form-data; boundary=xyz", _GARBAGE),
    (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="\xff.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + _GARBAGE[:512] + b"\r\n--xyz--\r\n",
    ),
    (
        "multipart/form-data; boundary=xyz",
        b"".join(
            b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
            for i in range(2_000)
        )
        + b"--xyz--\r\n",
    ),
]


# Methods whose routes take no body: a few bodies show they are ignored, the rest add nothing.
BODILESS = {"GET", "DELETE"}
BODILESS_SAMPLE = [HOSTILE[1], HOSTILE[2], HOSTILE[8], HOSTILE[18]]


def _placeholder(name: str) -> str:
    """A value for a path parameter: a fresh uuid for ids, a number for versions."""
    if name == "version":
        return "1"
    if name.endswith("id"):
        return str(uuid.uuid4())
    return uuid.uuid4().hex[:12]


def _targets(app: Any) -> list[tuple[str, str]]:
    """(method, concrete path) for every route and method of the app."""
    targets = []
    for route in iter_route_contexts(app.routes):  # included routers, flattened
        if not route.path_format or not route.methods:
            continue
        params = {name: _placeholder(name) for name in route.param_convertors}
        path = route.path_format.format(**params)
        targets += [(method, path) for method in sorted(route.methods - {"HEAD"})]
    return targets


def test_routes_are_discovered(app: Any) -> None:
    targets = _targets(app)
    assert ("POST", "/api/v1/orders/payment-intent") in targets
    assert len(targets) > 50  # every module's routes, not a sample


@pytest.mark.parametrize("auth", ["anonymous", "publishable_key", "bearer"])
def test_no_hostile_body_to_any_route_is_a_server_error(
    app: Any, client: TestClient, tenant: Any, auth: str
) -> None:
    headers = {
        "anonymous": {},
        "publishable_key": {"X-Publishable-Key": tenant.publishable_key},
        "bearer": tenant.headers,
    }[auth]
    failures = []
    for method, path in _targets(app):
        for content_type, body in BODILESS_SAMPLE if method in BODILESS else HOSTILE:
            sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
            r = client.request(method, path, content=body, headers=sent)
            if r.status_code >= 500:
                failures.append(f"{method} {path} [{content_type}] {body[:40]!r}: {r.status_code}")
            elif r.status_code >= 400 and r.headers.get("content-type", "").startswith(
                "application/json"
            ):
                err = r.json()
                if not (isinstance(err.get("error"), str) and isinstance(err.get("code"), str)):
                    failures.append(f"{method} {path}: not the error shape: {r.text[:200]}")
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} in all)"
