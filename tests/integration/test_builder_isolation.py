"""Tenant isolation and bad input across all 29 funnel-builder and page routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.files import png
from tests.support.funnels import FUNNELS, SIMPLE_TREE, complete_funnel, ok, product
from tests.support.isolation import assert_garbage_refused, fill

PAGES = "/api/v1/pages"

# SPEC-FUN-001 and SPEC-FUN-002: (method, path) of every route, as the OpenAPI document names them.
SPEC_ROUTES = {
    ("POST", "/api/v1/funnels"),
    ("GET", "/api/v1/funnels"),
    ("GET", "/api/v1/funnels/{funnel_id}"),
    ("PATCH", "/api/v1/funnels/{funnel_id}"),
    ("DELETE", "/api/v1/funnels/{funnel_id}"),
    ("POST", "/api/v1/funnels/{funnel_id}/clone"),
    ("POST", "/api/v1/funnels/{funnel_id}/steps"),
    ("PATCH", "/api/v1/funnels/{funnel_id}/steps/{step_id}"),
    ("DELETE", "/api/v1/funnels/{funnel_id}/steps/{step_id}"),
    ("PUT", "/api/v1/funnels/{funnel_id}/steps/order"),
    ("GET", "/api/v1/funnels/{funnel_id}/versions"),
    ("POST", "/api/v1/funnels/{funnel_id}/versions/{version}/restore"),
    ("GET", "/api/v1/funnels/templates"),
    ("POST", "/api/v1/funnels/from-template"),
    ("POST", "/api/v1/pages"),
    ("GET", "/api/v1/pages"),
    ("GET", "/api/v1/pages/{page_id}"),
    ("PATCH", "/api/v1/pages/{page_id}"),
    ("DELETE", "/api/v1/pages/{page_id}"),
    ("POST", "/api/v1/pages/{page_id}/publish"),
    ("POST", "/api/v1/pages/{page_id}/unpublish"),
    ("GET", "/api/v1/pages/{page_id}/preview"),
    ("GET", "/api/v1/pages/elements/library"),
    ("POST", "/api/v1/pages/{page_id}/elements"),
    ("POST", "/api/v1/pages/{page_id}/assets"),
    ("GET", "/api/v1/pages/{page_id}/assets"),
    ("DELETE", "/api/v1/pages/{page_id}/assets/{asset_id}"),
    ("GET", "/api/v1/pages/{page_id}/versions"),
    ("POST", "/api/v1/pages/{page_id}/versions/{version}/restore"),
}


@dataclass
class World:
    """Two accounts; the owner has a published funnel, a published page and an asset."""

    client: TestClient
    owner: dict[str, str]
    intruder: dict[str, str]
    ids: dict[str, str]

    def path(self, template: str) -> str:
        """A route template filled with the owner's ids."""
        return template.format(**self.ids)

    def snapshot(self) -> Any:
        """Everything the owner can read about the objects the intruder aims at."""
        c, h, ids = self.client, self.owner, self.ids
        return [
            c.get(f"{FUNNELS}/{ids['funnel_id']}", headers=h).json(),
            c.get(f"{FUNNELS}/{ids['funnel_id']}/versions", headers=h).json(),
            c.get(f"{PAGES}/{ids['page_id']}", headers=h).json(),
            c.get(f"{PAGES}/{ids['page_id']}/versions", headers=h).json(),
            c.get(f"{PAGES}/{ids['page_id']}/assets", headers=h).json(),
            c.get(f"{FUNNELS}", headers=h).json()["total"],
            c.get(f"{PAGES}", headers=h).json()["total"],
        ]


def _register(client: TestClient) -> dict[str, str]:
    email = f"iso-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": "correct horse battery staple", "account_name": "Iso"}
    token = ok(client.post("/api/v1/auth/register", json=body), 201)["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(app: Any) -> Iterator[World]:
    """Built once for the module: the checks below only read or get refused."""
    with TestClient(app, raise_server_exceptions=False) as client:
        owner, intruder = _register(client), _register(client)
        funnel = complete_funnel(client, owner)
        ok(client.patch(f"{FUNNELS}/{funnel['id']}", json={"status": "active"}, headers=owner))
        page_id = funnel["steps"][0]["page_id"]
        asset = ok(
            client.post(
                f"{PAGES}/{page_id}/assets",
                files={"file": ("a.png", png(), "image/png")},
                headers=owner,
            ),
            201,
        )
        ids = {
            "funnel_id": funnel["id"],
            "step_id": funnel["steps"][0]["id"],
            "page_id": page_id,
            "asset_id": asset["id"],
            "version": "1",
            "funnel_version": "2",
        }
        yield World(client, owner, intruder, ids)


# Routes that name an owner's object: the intruder gets 404 for each, and nothing changes.
OBJECT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/funnels/{funnel_id}", None),
    ("PATCH", "/api/v1/funnels/{funnel_id}", {"name": "Mine now"}),
    ("PATCH", "/api/v1/funnels/{funnel_id}?status=paused", {}),
    ("DELETE", "/api/v1/funnels/{funnel_id}", None),
    ("POST", "/api/v1/funnels/{funnel_id}/clone", None),
    ("POST", "/api/v1/funnels/{funnel_id}/steps", {"name": "X", "step_type": "page"}),
    ("PATCH", "/api/v1/funnels/{funnel_id}/steps/{step_id}", {"name": "X"}),
    ("DELETE", "/api/v1/funnels/{funnel_id}/steps/{step_id}", None),
    ("PUT", "/api/v1/funnels/{funnel_id}/steps/order", {"step_ids": []}),
    ("GET", "/api/v1/funnels/{funnel_id}/versions", None),
    ("POST", "/api/v1/funnels/{funnel_id}/versions/{funnel_version}/restore", None),
    ("GET", "/api/v1/pages/{page_id}", None),
    ("PATCH", "/api/v1/pages/{page_id}", {"name": "Mine now"}),
    ("DELETE", "/api/v1/pages/{page_id}", None),
    ("POST", "/api/v1/pages/{page_id}/publish", None),
    ("POST", "/api/v1/pages/{page_id}/unpublish", None),
    ("GET", "/api/v1/pages/{page_id}/preview", None),
    ("GET", "/api/v1/pages/{page_id}/preview?device=mobile", None),
    (
        "POST",
        "/api/v1/pages/{page_id}/elements",
        {"element": SIMPLE_TREE[0] | {"id": "x1"}, "parent_id": None},
    ),
    ("GET", "/api/v1/pages/{page_id}/assets", None),
    ("DELETE", "/api/v1/pages/{page_id}/assets/{asset_id}", None),
    ("GET", "/api/v1/pages/{page_id}/versions", None),
    ("POST", "/api/v1/pages/{page_id}/versions/{version}/restore", None),
]


@pytest.mark.parametrize(
    ("method", "template", "body"), OBJECT_ROUTES, ids=[f"{m} {t}" for m, t, _ in OBJECT_ROUTES]
)
def test_another_accounts_object_is_a_404(
    world: World, method: str, template: str, body: Any
) -> None:
    before = world.snapshot()
    r = world.client.request(method, world.path(template), json=body, headers=world.intruder)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"
    assert world.snapshot() == before


def test_another_accounts_page_takes_no_upload(world: World) -> None:
    before = world.snapshot()
    r = world.client.post(
        world.path("/api/v1/pages/{page_id}/assets"),
        files={"file": ("x.png", png(), "image/png")},
        headers=world.intruder,
    )
    assert r.status_code == 404, r.text
    assert world.snapshot() == before


def test_lists_show_only_the_callers_objects(world: World) -> None:
    c, h = world.client, world.intruder
    assert c.get(FUNNELS, headers=h).json()["total"] == 0
    assert c.get(PAGES, headers=h).json()["total"] == 0
    by_funnel = c.get(PAGES, params={"funnel_id": world.ids["funnel_id"]}, headers=h).json()
    assert by_funnel["total"] == 0
    # The shared template library and element library are the same for everyone.
    assert c.get(f"{FUNNELS}/templates", headers=h).json()["total"] >= 6
    assert c.get(f"{PAGES}/elements/library", headers=h).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            FUNNELS,
            {
                "name": "F",
                "funnel_type": "sales",
                "steps": [{"name": "S", "step_type": "page", "page_id": "{page_id}"}],
            },
        ),
        ("POST", PAGES, {"name": "P", "funnel_id": "{funnel_id}"}),
        (
            "POST",
            f"{FUNNELS}/from-template",
            {"template_id": "{template_id}", "product_map": {"main": "{product_id}"}},
        ),
    ],
    ids=["funnel step naming their page", "page in their funnel", "template with their product"],
)
def test_creating_with_another_accounts_ids_is_refused(
    world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    c = world.client
    templates = c.get(f"{FUNNELS}/templates", params={"category": "sales"}, headers=world.owner)
    sales = next(t for t in templates.json()["items"] if t["key"] == "sales-page")
    ids = {**world.ids, "template_id": sales["id"], "product_id": product(c, world.owner)}
    filled = fill(body, ids)
    before = world.snapshot()
    r = c.request(method, path, json=filled, headers=world.intruder)
    assert r.status_code == 422, r.text
    assert c.get(FUNNELS, headers=world.intruder).json()["total"] == 0
    assert c.get(PAGES, headers=world.intruder).json()["total"] == 0
    assert world.snapshot() == before


def test_the_openapi_document_has_every_spec_route(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    present = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert present >= SPEC_ROUTES, SPEC_ROUTES - present
    for method, path in SPEC_ROUTES:
        op = spec["paths"][path][method.lower()]
        answers = {code for code in op["responses"] if code.startswith("2")}
        assert answers, f"{method} {path} documents no success answer"
    covered = {(m, t.split("?")[0]) for m, t, _ in OBJECT_ROUTES}
    covered = {(m, t.replace("{funnel_version}", "{version}")) for m, t in covered}
    unscoped = {
        ("POST", FUNNELS),
        ("GET", FUNNELS),
        ("GET", f"{FUNNELS}/templates"),
        ("POST", f"{FUNNELS}/from-template"),
        ("POST", PAGES),
        ("GET", PAGES),
        ("GET", f"{PAGES}/elements/library"),
        ("POST", f"{PAGES}/{{page_id}}/assets"),
    }
    assert covered | unscoped == SPEC_ROUTES


# --- bad input: every write gets a 4xx JSON error for garbage, and nothing changes --------

GARBAGE_BODIES: list[Any] = [
    "not json",
    [],
    [1, 2, 3],
    {"name": 5},
    {"name": "x" * 10_000},
    {"unexpected": True},
    {"version": "two"},
    {"elements": "nope"},
    {"step_ids": "all"},
    {"status": "live"},
    {"funnel_type": "pyramid"},
    {"name": "A\u0000B"},
    {"settings": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
]
WRITE_ROUTES = [
    ("POST", "/api/v1/funnels"),
    ("PATCH", "/api/v1/funnels/{funnel_id}"),
    ("POST", "/api/v1/funnels/{funnel_id}/clone"),
    ("POST", "/api/v1/funnels/{funnel_id}/steps"),
    ("PATCH", "/api/v1/funnels/{funnel_id}/steps/{step_id}"),
    ("PUT", "/api/v1/funnels/{funnel_id}/steps/order"),
    ("POST", "/api/v1/funnels/from-template"),
    ("POST", "/api/v1/pages"),
    ("PATCH", "/api/v1/pages/{page_id}"),
    ("POST", "/api/v1/pages/{page_id}/elements"),
]


@pytest.mark.parametrize(
    ("method", "template"), WRITE_ROUTES, ids=[f"{m} {t}" for m, t in WRITE_ROUTES]
)
def test_garbage_bodies_are_4xx_and_change_nothing(
    world: World, method: str, template: str
) -> None:
    before = world.snapshot()
    assert_garbage_refused(world.client, method, world.path(template), world.owner, GARBAGE_BODIES)
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/funnels/not-a-uuid"),
        ("GET", "/api/v1/funnels?status=live"),
        ("GET", "/api/v1/funnels?funnel_type=x"),
        ("GET", "/api/v1/funnels?page=0"),
        ("GET", "/api/v1/funnels?page_size=101"),
        ("GET", "/api/v1/funnels/templates?category=x"),
        ("GET", "/api/v1/funnels/{funnel_id}/versions?page=-1"),
        ("POST", "/api/v1/funnels/{funnel_id}/versions/0/restore"),
        ("POST", "/api/v1/funnels/{funnel_id}/versions/abc/restore"),
        ("POST", "/api/v1/funnels/{funnel_id}/versions/99999999999/restore"),
        ("DELETE", "/api/v1/funnels/{funnel_id}/steps/not-a-uuid"),
        ("DELETE", "/api/v1/funnels/not-a-uuid"),
        ("POST", "/api/v1/funnels/not-a-uuid/clone"),
        ("GET", "/api/v1/funnels/{funnel_id}/versions?page_size=0"),
        ("GET", "/api/v1/pages/{page_id}/preview?device=watch"),
        ("DELETE", "/api/v1/pages/{page_id}/assets/not-a-uuid"),
    ],
)
def test_bad_parameters_are_4xx_and_change_nothing(world: World, method: str, path: str) -> None:
    before = world.snapshot()
    r = world.client.request(method, world.path(path), headers=world.owner)
    assert 400 <= r.status_code < 500, r.text
    assert world.snapshot() == before


def test_unknown_ids_of_the_callers_own_scope_are_404(world: World) -> None:
    missing = str(uuid.uuid4())
    c, h = world.client, world.owner
    for method, path in [
        ("GET", f"{FUNNELS}/{missing}"),
        ("PATCH", f"{FUNNELS}/{world.ids['funnel_id']}/steps/{missing}"),
        ("DELETE", f"{FUNNELS}/{world.ids['funnel_id']}/steps/{missing}"),
        ("POST", f"{FUNNELS}/{world.ids['funnel_id']}/versions/77/restore"),
        ("DELETE", f"{PAGES}/{world.ids['page_id']}/assets/{missing}"),
    ]:
        r = c.request(method, path, json={"name": "x"} if method == "PATCH" else None, headers=h)
        assert r.status_code == 404, f"{method} {path}: {r.text}"
