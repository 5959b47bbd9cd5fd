"""Funnels: CRUD, steps in dense order, publishing, versions, clone, templates, editors."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.funnels import FUNNELS, SIMPLE_TREE, complete_funnel, ok, page, product

BAD_ID = str(uuid.uuid4())


def _get(client: Any, headers: dict[str, str], funnel_id: str) -> dict[str, Any]:
    return ok(client.get(f"{FUNNELS}/{funnel_id}", headers=headers))  # type: ignore[no-any-return]


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert isinstance(body["error"], str)
    return body


def _positions(funnel: dict[str, Any]) -> list[int]:
    return [s["position"] for s in funnel["steps"]]


def test_create_list_filter_and_detail(client: Any, tenant: Any) -> None:
    h = tenant.headers
    a = ok(
        client.post(FUNNELS, json={"name": "Spring Sale", "funnel_type": "sales"}, headers=h), 201
    )
    b = ok(
        client.post(FUNNELS, json={"name": "Webinar!", "funnel_type": "webinar"}, headers=h), 201
    )
    assert a["slug"] == "spring-sale"
    assert a["status"] == "draft"
    assert a["version"] == 1
    assert a["steps"] == []
    assert b["slug"] == "webinar"
    listed = ok(client.get(FUNNELS, headers=h))
    assert listed["total"] == 2
    assert [f["id"] for f in listed["items"]] == [b["id"], a["id"]]
    assert "steps" not in listed["items"][0]
    only = ok(client.get(FUNNELS, params={"funnel_type": "webinar"}, headers=h))
    assert [f["id"] for f in only["items"]] == [b["id"]]
    found = ok(client.get(FUNNELS, params={"search": "spring"}, headers=h))
    assert [f["id"] for f in found["items"]] == [a["id"]]
    assert ok(client.get(FUNNELS, params={"status": "active"}, headers=h))["total"] == 0
    # A taken slug asked for explicitly is a 409; a derived one is made unique.
    r = client.post(
        FUNNELS, json={"name": "X", "funnel_type": "sales", "slug": "spring-sale"}, headers=h
    )
    _error(r, 409, "slug_taken")
    c = ok(
        client.post(FUNNELS, json={"name": "Spring sale", "funnel_type": "sales"}, headers=h), 201
    )
    assert c["slug"] == "spring-sale-2"


def test_steps_keep_a_dense_order(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = ok(
        client.post(
            FUNNELS,
            json={
                "name": "F",
                "funnel_type": "lead_generation",
                "steps": [
                    {"name": "A", "step_type": "optin"},
                    {"name": "C", "step_type": "thank_you"},
                ],
            },
            headers=h,
        ),
        201,
    )
    assert _positions(f) == [0, 1]
    assert f["version"] == 1
    b = ok(
        client.post(
            f"{FUNNELS}/{f['id']}/steps",
            json={"name": "B", "step_type": "page", "position": 1},
            headers=h,
        ),
        201,
    )
    f = _get(client, h, f["id"])
    assert [s["name"] for s in f["steps"]] == ["A", "B", "C"]
    assert _positions(f) == [0, 1, 2]
    assert f["version"] == 2
    assert b["slug"] == "b"
    ok(client.delete(f"{FUNNELS}/{f['id']}/steps/{f['steps'][0]['id']}", headers=h), 204)
    f = _get(client, h, f["id"])
    assert [s["name"] for s in f["steps"]] == ["B", "C"]
    assert _positions(f) == [0, 1]
    ids = [s["id"] for s in f["steps"]]
    f = ok(client.put(f"{FUNNELS}/{f['id']}/steps/order", json={"step_ids": ids[::-1]}, headers=h))
    assert [s["name"] for s in f["steps"]] == ["C", "B"]
    assert _positions(f) == [0, 1]
    assert f["version"] == 4
    patched = ok(
        client.patch(
            f"{FUNNELS}/{f['id']}/steps/{ids[0]}", json={"name": "Bee", "slug": "bee"}, headers=h
        )
    )
    assert patched["name"] == "Bee"
    assert patched["slug"] == "bee"
    assert _get(client, h, f["id"])["version"] == 5


@pytest.mark.parametrize(
    ("order", "problem"),
    [
        (lambda ids: ids[:1], "steps left out"),
        (lambda ids: [*ids, ids[0]], "steps named twice"),
        (lambda ids: [*ids, BAD_ID], "not steps of this funnel"),
    ],
)
def test_reorder_must_name_every_step_once(
    client: Any, tenant: Any, order: Any, problem: str
) -> None:
    f = complete_funnel(client, tenant.headers)
    ids = [s["id"] for s in f["steps"]]
    r = client.put(
        f"{FUNNELS}/{f['id']}/steps/order", json={"step_ids": order(ids)}, headers=tenant.headers
    )
    body = _error(r, 422, "invalid_step_order")
    assert any(d["msg"] == problem for d in body["details"])
    assert _get(client, tenant.headers, f["id"]) == f


def test_step_slugs_are_unique_within_a_funnel(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = ok(client.post(FUNNELS, json={"name": "F", "funnel_type": "sales"}, headers=h), 201)
    url = f"{FUNNELS}/{f['id']}/steps"
    first = ok(
        client.post(url, json={"name": "Go", "step_type": "page", "slug": "go"}, headers=h), 201
    )
    _error(
        client.post(url, json={"name": "Go", "step_type": "page", "slug": "go"}, headers=h),
        409,
        "slug_taken",
    )
    second = ok(client.post(url, json={"name": "Go", "step_type": "page"}, headers=h), 201)
    assert second["slug"] == "go-2"
    r = client.patch(f"{url}/{second['id']}", json={"slug": first["slug"]}, headers=h)
    _error(r, 409, "slug_taken")
    # Another funnel may use the same step slug.
    g = ok(client.post(FUNNELS, json={"name": "G", "funnel_type": "sales"}, headers=h), 201)
    ok(
        client.post(
            f"{FUNNELS}/{g['id']}/steps",
            json={"name": "Go", "step_type": "page", "slug": "go"},
            headers=h,
        ),
        201,
    )


def test_publish_lists_every_problem_and_changes_nothing(client: Any, tenant: Any) -> None:
    h = tenant.headers
    empty = ok(client.post(FUNNELS, json={"name": "E", "funnel_type": "sales"}, headers=h), 201)
    body = _error(
        client.patch(f"{FUNNELS}/{empty['id']}", json={"status": "active"}, headers=h),
        422,
        "funnel_incomplete",
    )
    assert body["details"][0]["loc"] == ["steps"]
    archived_product = product(client, h, "Old")
    ok(client.delete(f"/api/v1/products/{archived_product}", headers=h), 204)
    f = ok(
        client.post(
            FUNNELS,
            json={
                "name": "Broken",
                "funnel_type": "sales",
                "steps": [
                    {"name": "Landing", "step_type": "page"},
                    {"name": "Upsell", "step_type": "upsell", "page_id": page(client, h)},
                    {
                        "name": "Order",
                        "step_type": "order_form",
                        "page_id": page(client, h),
                        "product_id": archived_product,
                    },
                ],
            },
            headers=h,
        ),
        201,
    )
    r = client.patch(f"{FUNNELS}/{f['id']}", params={"status": "active"}, json={}, headers=h)
    body = _error(r, 422, "funnel_incomplete")
    locs = {tuple(d["loc"]) for d in body["details"]}
    assert locs == {
        ("steps", 0, "page_id"),
        ("steps", 1, "product_id"),
        ("steps", 1, "step_type"),
        ("steps", 2, "product_id"),
    }
    assert _get(client, h, f["id"]) == f
    assert ok(client.get(f"{FUNNELS}/{f['id']}/versions", headers=h))["total"] == 0


def test_publish_snapshots_and_publishes_pages(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h)
    live = ok(client.patch(f"{FUNNELS}/{f['id']}", params={"status": "active"}, json={}, headers=h))
    assert live["status"] == "active"
    assert live["version"] == 2
    assert live["published_version"] == 2
    versions = ok(client.get(f"{FUNNELS}/{f['id']}/versions", headers=h))
    assert versions["total"] == 1
    snap = versions["items"][0]
    assert snap["version"] == 2
    assert snap["live"] is True
    assert snap["published_by"] == str(tenant.user_id)
    assert [s["id"] for s in snap["snapshot"]["steps"]] == [s["id"] for s in f["steps"]]
    for step in snap["snapshot"]["steps"]:
        pg = ok(client.get(f"/api/v1/pages/{step['page_id']}", headers=h))
        assert pg["status"] == "published"
        assert step["page_version"] == pg["published_version"]
    # Pause, edit the draft, publish again: a second snapshot; the first stays as it was.
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "paused"}, headers=h))
    ok(
        client.patch(
            f"{FUNNELS}/{f['id']}", json={"name": "Launch v2", "status": "active"}, headers=h
        )
    )
    versions = ok(client.get(f"{FUNNELS}/{f['id']}/versions", headers=h))["items"]
    assert [v["version"] for v in versions] == [4, 2]
    assert versions[0]["snapshot"]["name"] == "Launch v2"
    assert versions[1]["snapshot"] == snap["snapshot"]
    assert [v["live"] for v in versions] == [True, False]


@pytest.mark.parametrize(
    ("path", "to", "code"),
    [
        (["active"], "draft", "invalid_status_transition"),
        (["active", "paused"], "paused", None),
        ([], "paused", "invalid_status_transition"),
        (["archived"], "active", "funnel_archived"),
    ],
)
def test_status_transitions(
    client: Any, tenant: Any, path: list[str], to: str, code: str | None
) -> None:
    h = tenant.headers
    f = complete_funnel(client, h)
    for status in path:
        ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": status}, headers=h))
    before = _get(client, h, f["id"])
    r = client.patch(f"{FUNNELS}/{f['id']}", json={"status": to}, headers=h)
    if code is None:
        assert r.status_code == 200
        assert r.json()["version"] == before["version"]
    else:
        _error(r, 409, code)
        assert _get(client, h, f["id"]) == before


def test_stale_version_is_refused_and_changes_nothing(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h)
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"name": "Renamed", "version": 1}, headers=h))
    before = _get(client, h, f["id"])
    assert before["version"] == 2
    stale = [
        ("PATCH", f"{FUNNELS}/{f['id']}", {"name": "Lost", "version": 1}, {}),
        ("PATCH", f"{FUNNELS}/{f['id']}", {"name": "Lost"}, {"If-Match": '"1"'}),
        (
            "POST",
            f"{FUNNELS}/{f['id']}/steps",
            {"name": "X", "step_type": "page"},
            {"If-Match": "1"},
        ),
        (
            "PATCH",
            f"{FUNNELS}/{f['id']}/steps/{f['steps'][0]['id']}",
            {"name": "Y", "version": 1},
            {},
        ),
        ("DELETE", f"{FUNNELS}/{f['id']}/steps/{f['steps'][0]['id']}", None, {"If-Match": "1"}),
        (
            "PUT",
            f"{FUNNELS}/{f['id']}/steps/order",
            {"step_ids": [s["id"] for s in f["steps"]][::-1], "version": 1},
            {},
        ),
        ("DELETE", f"{FUNNELS}/{f['id']}", None, {"If-Match": "1"}),
    ]
    for method, url, body, extra in stale:
        r = client.request(method, url, json=body, headers={**h, **extra})
        err = _error(r, 409, "version_conflict")
        assert err["details"] == [{"expected_version": 1, "current_version": 2}]
    assert _get(client, h, f["id"]) == before
    _error(
        client.patch(f"{FUNNELS}/{f['id']}", json={}, headers={**h, "If-Match": "abc"}),
        422,
        "validation_error",
    )


def test_two_concurrent_editors_one_wins(app: Any, client: Any, tenant: Any) -> None:
    f = complete_funnel(client, tenant.headers)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def edit(name: str) -> None:
        with TestClient(app) as own:
            barrier.wait()
            r = own.patch(
                f"{FUNNELS}/{f['id']}", json={"name": name, "version": 1}, headers=tenant.headers
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("Alice's", "Bob's")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    after = _get(client, tenant.headers, f["id"])
    assert after["version"] == 2
    assert after["name"] in ("Alice's", "Bob's")


def test_restore_makes_a_new_draft_and_keeps_the_live_snapshot(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h)
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))  # snapshot v2
    steps = f["steps"]
    ok(client.delete(f"{FUNNELS}/{f['id']}/steps/{steps[2]['id']}", headers=h), 204)
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"name": "Edited"}, headers=h))
    draft = _get(client, h, f["id"])
    assert draft["version"] == 4
    assert len(draft["steps"]) == 3
    restored = ok(client.post(f"{FUNNELS}/{f['id']}/versions/2/restore", headers=h))
    assert restored["version"] == 5
    assert restored["name"] == f["name"]
    assert [s["id"] for s in restored["steps"]] == [s["id"] for s in steps]
    assert _positions(restored) == [0, 1, 2, 3]
    assert restored["status"] == "active"
    assert restored["published_version"] == 2
    versions = ok(client.get(f"{FUNNELS}/{f['id']}/versions", headers=h))
    assert versions["total"] == 1
    assert versions["items"][0]["live"] is True
    _error(client.post(f"{FUNNELS}/{f['id']}/versions/3/restore", headers=h), 404, "not_found")


def test_clone_is_a_deep_copy_and_leaves_the_source(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h, name="Evergreen")
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))
    source = _get(client, h, f["id"])
    copy = ok(client.post(f"{FUNNELS}/{f['id']}/clone", headers=h), 201)
    again = ok(client.post(f"{FUNNELS}/{f['id']}/clone", json={"name": "Mine"}, headers=h), 201)
    assert copy["slug"] == "evergreen-copy"
    assert again["slug"] == "evergreen-copy-2"
    assert copy["status"] == "draft"
    assert copy["version"] == 1
    assert copy["name"] == "Evergreen (copy)"
    assert again["name"] == "Mine"
    assert [s["slug"] for s in copy["steps"]] == [s["slug"] for s in source["steps"]]
    assert {s["id"] for s in copy["steps"]}.isdisjoint(s["id"] for s in source["steps"])
    for old, new in zip(source["steps"], copy["steps"], strict=True):
        assert new["page_id"] != old["page_id"]
        assert new["product_id"] == old["product_id"]
        old_page = ok(client.get(f"/api/v1/pages/{old['page_id']}", headers=h))
        new_page = ok(client.get(f"/api/v1/pages/{new['page_id']}", headers=h))
        assert new_page["elements"] == old_page["elements"]
        assert new_page["slug"] != old_page["slug"]
        assert new_page["status"] == "draft"
        assert new_page["funnel_id"] == copy["id"]
    assert _get(client, h, f["id"]) == source
    # The copy publishes as it is.
    ok(client.patch(f"{FUNNELS}/{copy['id']}", json={"status": "active"}, headers=h))


def test_archive_and_page_in_use(client: Any, tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h)
    page_id = f["steps"][0]["page_id"]
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))
    _error(client.delete(f"/api/v1/pages/{page_id}", headers=h), 409, "page_in_use")
    ok(client.delete(f"{FUNNELS}/{f['id']}", headers=h), 204)
    archived = _get(client, h, f["id"])
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None
    ok(client.delete(f"{FUNNELS}/{f['id']}", headers=h), 204)  # archiving twice is fine
    _error(
        client.patch(f"{FUNNELS}/{f['id']}", json={"name": "x"}, headers=h), 409, "funnel_archived"
    )
    ok(client.delete(f"/api/v1/pages/{page_id}", headers=h), 204)


def test_step_references_must_belong_to_the_account(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    h = tenant.headers
    theirs_page = page(client, other_tenant.headers)
    theirs_product = product(client, other_tenant.headers)
    f = ok(client.post(FUNNELS, json={"name": "F", "funnel_type": "sales"}, headers=h), 201)
    url = f"{FUNNELS}/{f['id']}/steps"
    cases = [
        {"name": "A", "step_type": "page", "page_id": theirs_page},
        {"name": "A", "step_type": "order_form", "product_id": theirs_product},
        {"name": "A", "step_type": "order_form", "bump_product_ids": [theirs_product]},
        {"name": "A", "step_type": "thank_you", "product_id": product(client, h)},
        {"name": "A", "step_type": "upsell", "bump_product_ids": [product(client, h)]},
    ]
    for body in cases:
        _error(client.post(url, json=body, headers=h), 422, "invalid_input")
    after = _get(client, h, f["id"])
    assert after["steps"] == []
    assert after["version"] == 1


def test_templates_cover_every_funnel_type_and_publish_as_they_are(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    library = ok(client.get(f"{FUNNELS}/templates", params={"page_size": 100}, headers=h))
    categories = [t["category"] for t in library["items"]]
    assert categories == sorted(categories)
    assert set(categories) >= {
        "lead_generation",
        "sales",
        "webinar",
        "product_launch",
        "membership",
        "tripwire",
    }
    sales = ok(client.get(f"{FUNNELS}/templates", params={"category": "sales"}, headers=h))["items"]
    assert sales
    assert all(t["category"] == "sales" for t in sales)
    for template in library["items"]:
        f = ok(
            client.post(
                f"{FUNNELS}/from-template", json={"template_id": template["id"]}, headers=h
            ),
            201,
        )
        assert [s["slug"] for s in f["steps"]] == [s["slug"] for s in template["steps"]]
        assert f["funnel_type"] == template["category"]
        live = ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))
        assert live["status"] == "active", template["key"]
        pages = ok(client.get("/api/v1/pages", params={"funnel_id": f["id"]}, headers=h))
        assert pages["total"] == sum(1 for s in f["steps"] if s["page_id"])


def test_from_template_maps_offers_to_products(client: Any, tenant: Any) -> None:
    h = tenant.headers
    templates = ok(client.get(f"{FUNNELS}/templates", params={"category": "sales"}, headers=h))[
        "items"
    ]
    template = next(t for t in templates if t["key"] == "sales-page")
    mine = product(client, h, "My course", 12300)
    before = ok(client.get("/api/v1/products", headers=h))["total"]
    body = {"template_id": template["id"], "name": "My launch", "product_map": {"main": mine}}
    f = ok(client.post(f"{FUNNELS}/from-template", json=body, headers=h), 201)
    assert f["name"] == "My launch"
    assert f["slug"] == "my-launch"
    order = next(s for s in f["steps"] if s["step_type"] == "order_form")
    assert order["product_id"] == mine
    # The two unmapped offers (bump, upsell) became sample products.
    assert ok(client.get("/api/v1/products", headers=h))["total"] == before + 2
    bad = {"template_id": template["id"], "product_map": {"nope": mine}}
    _error(client.post(f"{FUNNELS}/from-template", json=bad, headers=h), 422, "invalid_input")
    _error(
        client.post(f"{FUNNELS}/from-template", json={"template_id": BAD_ID}, headers=h),
        404,
        "not_found",
    )
    assert ok(client.get(FUNNELS, headers=h))["total"] == 1


def test_visitors_see_the_published_snapshot(client: Any, tenant: Any, other_tenant: Any) -> None:
    h = tenant.headers
    f = complete_funnel(client, h, name="Live one")
    public = f"/f/{tenant.slug}/{f['slug']}"
    assert client.get(public).status_code == 404  # a draft is not public
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))
    entry = client.get(public)
    assert entry.status_code == 200
    assert entry.headers["content-type"].startswith("text/html")
    assert "<h1" in entry.text
    assert ">Hi<" in entry.text
    csp = dict(d.strip().split(" ", 1) for d in entry.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"].startswith("'sha256-")
    assert "unsafe" not in csp["script-src"]
    # Editing the first page's draft changes nothing for visitors until the next publish.
    first_page = f["steps"][0]["page_id"]
    draft_tree = [
        {
            **SIMPLE_TREE[0],
            "children": [
                {
                    **SIMPLE_TREE[0]["children"][0],
                    "children": [
                        {
                            "id": "c1",
                            "type": "column",
                            "children": [
                                {"id": "h1", "type": "headline", "props": {"text": "Draft only"}}
                            ],
                        }
                    ],
                }
            ],
        }
    ]
    ok(client.patch(f"/api/v1/pages/{first_page}", json={"elements": draft_tree}, headers=h))
    unchanged = client.get(public)
    assert unchanged.status_code == 200
    assert ">Hi<" in unchanged.text
    assert "Draft only" not in unchanged.text
    order_step = f["steps"][1]["slug"]
    assert client.get(f"{public}/{order_step}").status_code == 200
    assert client.get(f"{public}/no-such-step").status_code == 404
    assert client.get(f"/f/{other_tenant.slug}/{f['slug']}").status_code == 404
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active", "name": "Again"}, headers=h))
    assert "Draft only" in client.get(public).text
    # A page a live funnel serves cannot be taken offline under it.
    _error(client.post(f"/api/v1/pages/{first_page}/unpublish", headers=h), 409, "page_in_use")
    assert client.get(public).status_code == 200
    assert client.get(f"{public}/{order_step}").status_code == 200
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "paused"}, headers=h))
    assert client.get(public).status_code == 404
