"""Pages: CRUD, edit versions under concurrency, elements, publish, preview, versions, tenancy."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.pages import every_element_tree
from tests.support.tenancy import assert_isolated

BASE = "/api/v1/pages"


def _section(section_id: str, *content: dict[str, Any]) -> dict[str, Any]:
    """A section with one row and one column holding content."""
    return {
        "id": section_id,
        "type": "section",
        "children": [
            {
                "id": f"{section_id}-row",
                "type": "row",
                "children": [
                    {"id": f"{section_id}-col", "type": "column", "children": list(content)}
                ],
            }
        ],
    }


def _headline(node_id: str, text: str) -> dict[str, Any]:
    return {"id": node_id, "type": "headline", "props": {"text": text}}


def _create(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {"name": "Landing", "page_type": "landing", **overrides}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _get(client: Any, headers: dict[str, str], page_id: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/{page_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _versions(client: Any, headers: dict[str, str], page_id: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/{page_id}/versions", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _assert_error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
    return body


HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.body_class: str | None = None
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.body_class = dict(attrs).get("class")
        self._in_heading = tag in HEADINGS

    def handle_endtag(self, tag: str) -> None:
        if tag in HEADINGS:
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.texts.append(data)


def _headings(html: str) -> _Headings:
    parser = _Headings()
    parser.feed(html)
    return parser


@pytest.fixture
def live_funnel(tenant: Any) -> Iterator[Any]:
    """Make an active funnel of the tenant with a step on a page: call it with the page id."""
    from domain.funnels.models import Funnel, FunnelStep
    from domain.shared.db import unit_of_work

    made: list[uuid.UUID] = []

    def make(page_id: str | None, status: str = "active") -> uuid.UUID:
        funnel_id = uuid.uuid4()
        with unit_of_work() as session:
            session.add(
                Funnel(
                    id=funnel_id,
                    account_id=tenant.account_id,
                    name="Webinar",
                    slug=f"webinar-{funnel_id.hex[:8]}",
                    funnel_type="webinar",
                    status=status,
                    settings={},
                    version=1,
                )
            )
            session.flush()
            if page_id is not None:
                session.add(
                    FunnelStep(
                        id=uuid.uuid4(),
                        account_id=tenant.account_id,
                        funnel_id=funnel_id,
                        position=0,
                        name="Register",
                        slug="register",
                        step_type="optin",
                        page_id=uuid.UUID(page_id),
                        bump_product_ids=[],
                        settings={},
                    )
                )
        made.append(funnel_id)
        return funnel_id

    yield make
    with unit_of_work() as session:
        for funnel_id in made:
            funnel = session.get(Funnel, funnel_id)
            if funnel is not None:
                session.delete(funnel)


# --- create, read, list -----------------------------------------------------------------


def test_create_and_read_with_every_element(client: Any, tenant: Any) -> None:
    page = _create(
        client,
        tenant.headers,
        name="Spring Launch",
        elements=every_element_tree(),
        seo={"title": "Spring", "description": "Sale", "og_image": "/og.png", "noindex": True},
    )
    assert page["slug"] == "spring-launch"
    assert page["status"] == "draft"
    assert page["version"] == 1
    assert page["published_version"] is None
    assert page["page_type"] == "landing"
    assert page["seo"] == {
        "title": "Spring",
        "description": "Sale",
        "og_image": "/og.png",
        "noindex": True,
    }
    assert [n["id"] for n in page["elements"]] == ["hero", "social", "order"]
    pricing = page["elements"][1]["children"][0]["children"][1]["children"][0]
    assert pricing["props"]["currency"] == "USD"
    assert _get(client, tenant.headers, page["id"]) == page


def test_ids_are_assigned_and_defaults_filled(client: Any, tenant: Any) -> None:
    tree = [{"type": "section", "children": [{"type": "row", "children": [{"type": "column"}]}]}]
    page = _create(client, tenant.headers, elements=tree)
    section = page["elements"][0]
    assert len(section["id"]) == 12
    assert section["props"] == {"background_color": None, "padding": "medium", "anchor": None}
    assert page["seo"] == {"title": None, "description": None, "og_image": None, "noindex": False}


def test_slugs_are_unique_per_account(client: Any, tenant: Any, other_tenant: Any) -> None:
    assert _create(client, tenant.headers, name="Offer")["slug"] == "offer"
    assert _create(client, tenant.headers, name="Offer")["slug"] == "offer-2"
    assert _create(client, other_tenant.headers, name="Offer")["slug"] == "offer"
    r = client.post(BASE, json={"name": "X", "slug": "offer"}, headers=tenant.headers)
    _assert_error(r, 409, "slug_taken")
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 2


def test_list_filters_paginates_and_leaves_out_the_tree(
    client: Any, tenant: Any, live_funnel: Any
) -> None:
    funnel_id = str(live_funnel(None, status="draft"))
    in_funnel = _create(client, tenant.headers, name="A", funnel_id=funnel_id, page_type="optin")
    _create(client, tenant.headers, name="B", page_type="sales")
    published = _create(client, tenant.headers, name="C", page_type="sales")
    client.post(f"{BASE}/{published['id']}/publish", headers=tenant.headers)

    everything = client.get(BASE, headers=tenant.headers).json()
    assert everything["total"] == 3
    assert [p["name"] for p in everything["items"]] == ["C", "B", "A"]
    assert all("elements" not in p and "seo" not in p for p in everything["items"])

    def names(query: str) -> list[str]:
        r = client.get(f"{BASE}?{query}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["items"]]

    assert names(f"funnel_id={funnel_id}") == ["A"]
    assert names("status=published") == ["C"]
    assert names("status=draft") == ["B", "A"]
    assert names("page_type=sales") == ["C", "B"]
    assert names("page_type=sales&status=draft") == ["B"]
    second = client.get(f"{BASE}?page=2&page_size=2", headers=tenant.headers).json()
    assert [p["name"] for p in second["items"]] == ["A"]
    assert second["total"] == 3
    assert in_funnel["funnel_id"] == funnel_id


def test_funnel_must_be_one_of_the_callers(
    client: Any, tenant: Any, other_tenant: Any, live_funnel: Any
) -> None:
    own = str(live_funnel(None, status="draft"))
    body = {"name": "X", "funnel_id": str(uuid.uuid4())}
    _assert_error(client.post(BASE, json=body, headers=tenant.headers), 422, "funnel_not_found")
    # the tenant's funnel is not the other account's
    body = {"name": "X", "funnel_id": own}
    r = client.post(BASE, json=body, headers=other_tenant.headers)
    _assert_error(r, 422, "funnel_not_found")
    assert client.get(BASE, headers=other_tenant.headers).json()["total"] == 0


def test_element_library(client: Any, tenant: Any) -> None:
    r = client.get(f"{BASE}/elements/library", headers=tenant.headers)
    assert r.status_code == 200, r.text
    library = r.json()
    assert library["max_depth"] == 4
    assert library["max_nodes"] == 2000
    by_type = {e["type"]: e for e in library["elements"]}
    assert set(by_type) == {
        "section",
        "row",
        "column",
        "headline",
        "text",
        "image",
        "video",
        "button",
        "form",
        "order_form",
        "countdown",
        "testimonial",
        "pricing",
        "divider",
    }
    assert by_type["row"]["children"] == ["column"]
    assert by_type["video"]["props_schema"]["required"] == ["provider", "source"]
    assert by_type["section"]["category"] == "layout"
    assert client.get(f"{BASE}/elements/library").status_code == 401


# --- update and edit versions ------------------------------------------------------------


def test_patch_changes_fields_and_bumps_version(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers, elements=[_section("s1", _headline("h1", "Old"))])
    path = f"{BASE}/{page['id']}"
    r = client.patch(
        path,
        json={
            "name": "New name",
            "slug": "new-slug",
            "page_type": "thank_you",
            "elements": [_section("s2", _headline("h2", "New"))],
            "seo": {"title": "T"},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["version"] == 2
    assert updated["name"] == "New name"
    assert updated["slug"] == "new-slug"
    assert updated["page_type"] == "thank_you"
    assert updated["elements"][0]["id"] == "s2"
    assert updated["seo"]["title"] == "T"
    r = client.patch(path, json={"name": "Again", "version": 2}, headers=tenant.headers)
    assert r.json()["version"] == 3
    r = client.patch(path, json={"name": "Quoted"}, headers={**tenant.headers, "If-Match": '"3"'})
    assert r.json()["version"] == 4
    assert _get(client, tenant.headers, page["id"])["name"] == "Quoted"


@pytest.mark.parametrize("via", ["body", "if-match"])
def test_stale_version_is_409_and_changes_nothing(client: Any, tenant: Any, via: str) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    assert client.patch(path, json={"name": "v2"}, headers=tenant.headers).status_code == 200
    before = _get(client, tenant.headers, page["id"])
    body: dict[str, Any] = {"name": "lost update"}
    headers = dict(tenant.headers)
    if via == "body":
        body["version"] = 1
    else:
        headers["If-Match"] = "1"
    error = _assert_error(client.patch(path, json=body, headers=headers), 409, "version_conflict")
    assert error["details"] == [{"expected_version": 1, "current_version": 2}]
    element = {"element": _section("late"), "version": 1}
    r = client.post(f"{path}/elements", json=element, headers=tenant.headers)
    _assert_error(r, 409, "version_conflict")
    r = client.post(
        f"{path}/elements", json={"element": _section("late")}, headers={**headers, "If-Match": "1"}
    )
    _assert_error(r, 409, "version_conflict")
    assert _get(client, tenant.headers, page["id"]) == before


def test_slug_taken_on_patch(client: Any, tenant: Any) -> None:
    _create(client, tenant.headers, name="One")
    two = _create(client, tenant.headers, name="Two")
    path = f"{BASE}/{two['id']}"
    _assert_error(
        client.patch(path, json={"slug": "one"}, headers=tenant.headers), 409, "slug_taken"
    )
    # keeping its own slug is fine
    assert client.patch(path, json={"slug": "two"}, headers=tenant.headers).status_code == 200
    assert _get(client, tenant.headers, two["id"])["slug"] == "two"


def test_patch_funnel_can_be_set_and_cleared(client: Any, tenant: Any, live_funnel: Any) -> None:
    funnel_id = str(live_funnel(None, status="draft"))
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    r = client.patch(path, json={"funnel_id": funnel_id}, headers=tenant.headers)
    assert r.json()["funnel_id"] == funnel_id
    r = client.patch(path, json={"funnel_id": None}, headers=tenant.headers)
    assert r.json()["funnel_id"] is None


def _race(app: Any, headers: dict[str, str], path: str, version: int) -> dict[str, Any]:
    """Two editors, each with its own client, PATCH the same version at the same moment."""
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def edit(name: str) -> None:
        with TestClient(app, raise_server_exceptions=False) as own:
            barrier.wait()
            r = own.patch(path, json={"name": name, "version": version}, headers=headers)
            results[name] = (r.status_code, r.json())

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_concurrent_editors_one_wins(app: Any, client: Any, tenant: Any) -> None:
    for round_ in range(3):
        page = _create(client, tenant.headers, name=f"Race {round_}")
        start = page["version"]
        results = _race(app, tenant.headers, f"{BASE}/{page['id']}", start)
        statuses = sorted(status for status, _ in results.values())
        assert statuses == [200, 409], results
        winner = next(n for n, (s, _) in results.items() if s == 200)
        loser = next(body for s, body in results.values() if s == 409)
        assert loser["code"] == "version_conflict"
        final = _get(client, tenant.headers, page["id"])
        assert final["version"] == start + 1
        assert final["name"] == winner


def test_a_writer_waits_for_the_row_lock_then_sees_the_new_version(
    client: Any, tenant: Any
) -> None:
    from domain.pages import service as pages
    from domain.pages.schemas import PagePatch
    from domain.shared.db import get_sessionmaker

    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    holder = get_sessionmaker()()
    result: dict[str, Any] = {}
    try:
        pages.update(
            holder,
            account_id=tenant.account_id,
            page_id=uuid.UUID(page["id"]),
            data=PagePatch(name="first", version=1),
        )

        def second() -> None:
            result["r"] = client.patch(
                path, json={"name": "second", "version": 1}, headers=tenant.headers
            )

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second writer did not wait for the locked row"
        holder.commit()
    finally:
        holder.close()
    thread.join(timeout=30)
    _assert_error(result["r"], 409, "version_conflict")
    final = _get(client, tenant.headers, page["id"])
    assert final["name"] == "first"
    assert final["version"] == 2


# --- inserting elements -------------------------------------------------------------------


def test_insert_elements_at_positions(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers, elements=[_section("s1", _headline("a", "A"))])
    path = f"{BASE}/{page['id']}/elements"

    r = client.post(
        path, json={"element": _headline("b", "B"), "parent_id": "s1-col"}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    r = client.post(
        path,
        json={"element": _headline("c", "C"), "parent_id": "s1-col", "position": 0, "version": 2},
        headers=tenant.headers,
    )
    column = r.json()["elements"][0]["children"][0]["children"][0]
    assert [n["id"] for n in column["children"]] == ["c", "a", "b"]
    # a whole section at the root, first; ids assigned where missing
    section = {"type": "section", "children": [{"type": "row", "children": [{"type": "column"}]}]}
    r = client.post(path, json={"element": section, "position": 0}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    roots = r.json()["elements"]
    assert len(roots) == 2
    assert roots[1]["id"] == "s1"
    assert len(roots[0]["id"]) == 12
    assert r.json()["version"] == 4
    # a column into a row; a position past the end appends
    r = client.post(
        path,
        json={"element": {"id": "c2", "type": "column"}, "parent_id": "s1-row", "position": 99},
        headers=tenant.headers,
    )
    assert [c["id"] for c in r.json()["elements"][1]["children"][0]["children"]] == ["s1-col", "c2"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"element": {"type": "divider"}, "parent_id": "nope"}, ["parent_id"]),
        ({"element": {"type": "divider"}}, ["element", "type"]),
        ({"element": {"type": "row"}, "parent_id": "s1-col"}, ["element", "type"]),
        ({"element": {"type": "marquee"}, "parent_id": "s1-col"}, ["element", "type"]),
        ({"element": {"id": "a", "type": "divider"}, "parent_id": "s1-col"}, None),
        (
            {
                "element": {"type": "button", "props": {"label": "x", "href": "javascript:x"}},
                "parent_id": "s1-col",
            },
            ["element", "props", "href"],
        ),
        ({"element": {"type": "divider"}, "parent_id": "a"}, ["element", "type"]),
        ({"element": {"type": "column"}, "parent_id": "s1-row"}, None),
    ],
)
def test_bad_inserts_are_422_and_change_nothing(
    client: Any, tenant: Any, body: dict[str, Any], loc: list[Any] | None
) -> None:
    columns = [{"id": f"col{i}", "type": "column"} for i in range(5)]
    tree = [_section("s1", _headline("a", "A"))]
    tree[0]["children"][0]["children"].extend(columns)
    page = _create(client, tenant.headers, elements=tree)
    r = client.post(f"{BASE}/{page['id']}/elements", json=body, headers=tenant.headers)
    error = _assert_error(r, 422, "validation_error")
    if loc is not None:
        assert any(d["loc"] == loc for d in error["details"]), error
    assert _get(client, tenant.headers, page["id"]) == page


# --- publish, preview, versions, restore --------------------------------------------------


def _page_version_html(page_id: str, version: int) -> str:
    from sqlalchemy import select

    from domain.pages.models import PageVersion
    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        html = session.scalar(
            select(PageVersion.html).where(
                PageVersion.page_id == uuid.UUID(page_id), PageVersion.version == version
            )
        )
    assert html is not None
    return html


def test_publish_versions_restore_unpublish(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers, elements=[_section("s", _headline("h", "First"))])
    path = f"{BASE}/{page['id']}"
    assert _versions(client, tenant.headers, page["id"])["total"] == 0

    r = client.post(f"{path}/publish", headers=tenant.headers)
    assert r.status_code == 200, r.text
    published = r.json()
    assert published["status"] == "published"
    assert published["published_version"] == 1
    assert published["published_at"] is not None
    assert published["version"] == 1  # publishing is not an edit
    first_html = _page_version_html(page["id"], 1)
    assert _headings(first_html).texts == ["First"]
    assert _headings(first_html).body_class == "device-responsive"

    # publishing again at the same version is a no-op
    again = client.post(f"{path}/publish", headers=tenant.headers).json()
    assert again == published
    assert _versions(client, tenant.headers, page["id"])["total"] == 1

    r = client.patch(
        path, json={"elements": [_section("s", _headline("h", "Second"))]}, headers=tenant.headers
    )
    assert r.json()["version"] == 2
    assert r.json()["status"] == "published"
    assert r.json()["published_version"] == 1
    client.post(f"{path}/publish", headers=tenant.headers)
    versions = _versions(client, tenant.headers, page["id"])
    assert [(v["version"], v["live"]) for v in versions["items"]] == [(2, True), (1, False)]
    assert all(set(v) == {"version", "live", "created_at"} for v in versions["items"])
    second_html = _page_version_html(page["id"], 2)

    # restore version 1: a new draft version, the live snapshot untouched
    r = client.post(f"{path}/versions/1/restore", headers=tenant.headers)
    assert r.status_code == 200, r.text
    restored = r.json()
    assert restored["version"] == 3
    assert restored["status"] == "published"
    assert restored["published_version"] == 2
    assert (
        restored["elements"][0]["children"][0]["children"][0]["children"][0]["props"]["text"]
        == "First"
    )
    assert _page_version_html(page["id"], 2) == second_html
    assert _versions(client, tenant.headers, page["id"])["total"] == 2
    preview = client.get(f"{path}/preview", headers=tenant.headers)
    assert _headings(preview.text).texts == ["First"]

    # restore is guarded by If-Match too
    r = client.post(f"{path}/versions/2/restore", headers={**tenant.headers, "If-Match": "2"})
    _assert_error(r, 409, "version_conflict")

    r = client.post(f"{path}/unpublish", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft"
    assert r.json()["published_version"] == 2
    versions = _versions(client, tenant.headers, page["id"])
    assert [v["live"] for v in versions["items"]] == [False, False]
    _assert_error(client.post(f"{path}/unpublish", headers=tenant.headers), 409, "not_published")

    # publishing the restored draft snapshots version 3
    client.post(f"{path}/publish", headers=tenant.headers)
    assert _headings(_page_version_html(page["id"], 3)).texts == ["First"]


def test_republish_after_unpublish_at_the_same_version(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    client.post(f"{path}/publish", headers=tenant.headers)
    client.post(f"{path}/unpublish", headers=tenant.headers)
    r = client.post(f"{path}/publish", headers=tenant.headers)
    assert r.json()["status"] == "published"
    assert r.json()["published_version"] == 1
    assert _versions(client, tenant.headers, page["id"])["total"] == 1


def test_publish_refuses_an_invalid_stored_tree(client: Any, tenant: Any) -> None:
    from domain.pages.models import Page
    from domain.shared.db import unit_of_work

    page = _create(client, tenant.headers)
    with unit_of_work() as session:
        row = session.get(Page, uuid.UUID(page["id"]))
        assert row is not None
        row.elements = [{"id": "x", "type": "headline", "props": {}, "children": []}]
    r = client.post(f"{BASE}/{page['id']}/publish", headers=tenant.headers)
    error = _assert_error(r, 422, "validation_error")
    assert error["details"][0]["node_id"] == "x"
    assert _get(client, tenant.headers, page["id"])["status"] == "draft"
    assert _versions(client, tenant.headers, page["id"])["total"] == 0


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (None, "device-desktop"),
        ("desktop", "device-desktop"),
        ("tablet", "device-tablet"),
        ("mobile", "device-mobile"),
    ],
)
def test_preview_per_device(client: Any, tenant: Any, device: str | None, expected: str) -> None:
    page = _create(client, tenant.headers, name="Preview me", elements=every_element_tree())
    query = "" if device is None else f"?device={device}"
    r = client.get(f"{BASE}/{page['id']}/preview{query}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    parsed = _headings(r.text)
    assert parsed.body_class == expected
    assert "Grow faster" in parsed.texts
    assert "<title>Preview me</title>" in r.text


def test_restore_unknown_version_is_404(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    _assert_error(client.post(f"{path}/versions/1/restore", headers=tenant.headers), 404)
    _assert_error(client.post(f"{path}/versions/0/restore", headers=tenant.headers), 422)
    _assert_error(client.post(f"{path}/versions/x/restore", headers=tenant.headers), 422)
    assert _get(client, tenant.headers, page["id"]) == page


# --- delete -------------------------------------------------------------------------------


def test_delete(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    client.post(f"{path}/publish", headers=tenant.headers)
    r = client.delete(path, headers=tenant.headers)
    assert r.status_code == 204
    assert r.content == b""
    _assert_error(client.get(path, headers=tenant.headers), 404, "not_found")
    _assert_error(client.delete(path, headers=tenant.headers), 404, "not_found")
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 0


def test_delete_refused_while_an_active_funnel_uses_the_page(
    client: Any, tenant: Any, live_funnel: Any
) -> None:
    from domain.funnels.models import Funnel
    from domain.shared.db import unit_of_work

    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    funnel_id = live_funnel(page["id"])
    error = _assert_error(client.delete(path, headers=tenant.headers), 409, "page_in_use")
    assert error["details"] == [{"funnel_id": str(funnel_id)}]
    assert _get(client, tenant.headers, page["id"]) == page

    # a paused funnel no longer holds the page
    with unit_of_work() as session:
        funnel = session.get(Funnel, funnel_id)
        assert funnel is not None
        funnel.status = "paused"
    assert client.delete(path, headers=tenant.headers).status_code == 204


# --- bad input ----------------------------------------------------------------------------

BAD_CREATES: list[Any] = [
    {},
    {"name": ""},
    {"name": 5},
    {"name": "x" * 201},
    {"name": "X", "page_type": "blog"},
    {"name": "X", "slug": "Not A Slug"},
    {"name": "X", "funnel_id": "not-a-uuid"},
    {"name": "X", "elements": "nope"},
    {"name": "X", "elements": [{"type": "widget"}]},
    {"name": "X", "elements": [{"type": "headline", "props": {"text": "root"}}]},
    {"name": "X", "elements": [_section("s", {"type": "section"})]},
    {"name": "X", "elements": [_section("s", {"type": "headline", "props": {"text": 5}})]},
    {"name": "X", "elements": [_section("s", _headline("h", "a"), _headline("h", "b"))]},
    {"name": "X", "seo": {"og_image": "javascript:alert(1)"}},
    {"name": "X", "seo": {"title": "x" * 201}},
    {"name": "X", "seo": {"robots": "all"}},
    {"name": "X", "extra": 1},
    [],
]


@pytest.mark.parametrize("body", BAD_CREATES)
def test_bad_create_is_422_and_creates_nothing(client: Any, tenant: Any, body: Any) -> None:
    error = _assert_error(client.post(BASE, json=body, headers=tenant.headers), 422)
    assert error["details"]
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 0


def test_tree_errors_point_at_the_node(client: Any, tenant: Any) -> None:
    tree = [_section("s", {"id": "btn", "type": "button", "props": {"label": "Go", "href": 5}})]
    r = client.post(BASE, json={"name": "X", "elements": tree}, headers=tenant.headers)
    error = _assert_error(r, 422, "validation_error")
    assert error["details"] == [
        {
            "loc": ["elements", 0, "children", 0, "children", 0, "children", 0, "props", "href"],
            "node_id": "btn",
            "msg": "Input should be a valid string",
            "type": "string_type",
        }
    ]


@pytest.mark.parametrize(
    "patch",
    [
        {"name": None},
        {"name": ""},
        {"elements": None},
        {"elements": [{"type": "row"}]},
        {"elements": [_section("s", {"type": "image", "props": {"src": "data:image/png,x"}})]},
        {"page_type": "blog"},
        {"slug": "UPPER"},
        {"seo": {"description": "x" * 501}},
        {"funnel_id": str(uuid.uuid4())},
        {"version": 0},
        {"version": "1"},
        {"status": "published"},
    ],
)
def test_bad_patch_is_4xx_and_changes_nothing(client: Any, tenant: Any, patch: Any) -> None:
    page = _create(client, tenant.headers, elements=[_section("s", _headline("h", "Keep"))])
    path = f"{BASE}/{page['id']}"
    _assert_error(client.patch(path, json=patch, headers=tenant.headers), 422)
    assert _get(client, tenant.headers, page["id"]) == page


def test_bad_paths_queries_and_headers(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    for method, url in [
        ("GET", f"{BASE}/not-a-uuid"),
        ("PATCH", f"{BASE}/not-a-uuid"),
        ("DELETE", f"{BASE}/not-a-uuid"),
        ("POST", f"{BASE}/not-a-uuid/publish"),
        ("GET", f"{BASE}/not-a-uuid/preview"),
        ("GET", f"{path}/preview?device=watch"),
        ("GET", f"{BASE}?status=live"),
        ("GET", f"{BASE}?page_type=blog"),
        ("GET", f"{BASE}?funnel_id=nope"),
        ("GET", f"{path}/versions?page=0"),
    ]:
        r = client.request(
            method, url, json={} if method == "PATCH" else None, headers=tenant.headers
        )
        _assert_error(r, 422, "validation_error")
    r = client.patch(path, json={"name": "x"}, headers={**tenant.headers, "If-Match": "abc"})
    _assert_error(r, 422, "validation_error")
    missing = f"{BASE}/{uuid.uuid4()}"
    for method, url in [
        ("GET", missing),
        ("PATCH", missing),
        ("DELETE", missing),
        ("POST", f"{missing}/publish"),
        ("POST", f"{missing}/unpublish"),
        ("GET", f"{missing}/preview"),
        ("GET", f"{missing}/versions"),
        ("POST", f"{missing}/versions/1/restore"),
    ]:
        r = client.request(
            method, url, json={} if method == "PATCH" else None, headers=tenant.headers
        )
        _assert_error(r, 404, "not_found")
    r = client.post(
        f"{missing}/elements", json={"element": {"type": "section"}}, headers=tenant.headers
    )
    _assert_error(r, 404, "not_found")
    assert _get(client, tenant.headers, page["id"]) == page
    assert client.get(path).status_code == 401


# --- tenancy ------------------------------------------------------------------------------


def test_another_account_gets_404_everywhere_and_changes_nothing(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    page = _create(client, tenant.headers, elements=[_section("s", _headline("h", "Mine"))])
    path = f"{BASE}/{page['id']}"
    client.post(f"{path}/publish", headers=tenant.headers)
    client.patch(path, json={"name": "Mine v2"}, headers=tenant.headers)

    def snapshot() -> Any:
        return (
            _get(client, tenant.headers, page["id"]),
            _versions(client, tenant.headers, page["id"]),
            client.get(f"{path}/preview", headers=tenant.headers).text,
            client.get(BASE, headers=tenant.headers).json(),
        )

    assert_isolated(
        client,
        other_tenant.headers,
        [
            ("GET", path, None),
            ("PATCH", path, {"name": "stolen"}),
            ("PATCH", path, {"name": "stolen", "version": 2}),
            ("POST", f"{path}/elements", {"element": _section("evil")}),
            ("GET", f"{path}/preview", None),
            ("POST", f"{path}/publish", None),
            ("POST", f"{path}/unpublish", None),
            ("GET", f"{path}/versions", None),
            ("POST", f"{path}/versions/1/restore", None),
            ("DELETE", path, None),
        ],
        snapshot=snapshot,
    )
    assert client.get(BASE, headers=other_tenant.headers).json()["total"] == 0
    # the other account may use the same slug for its own page
    assert _create(client, other_tenant.headers, name="Landing")["slug"] == page["slug"]


def test_openapi_lists_every_page_route(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        "/api/v1/pages": {"get", "post"},
        "/api/v1/pages/{page_id}": {"get", "patch", "delete"},
        "/api/v1/pages/{page_id}/publish": {"post"},
        "/api/v1/pages/{page_id}/unpublish": {"post"},
        "/api/v1/pages/{page_id}/preview": {"get"},
        "/api/v1/pages/elements/library": {"get"},
        "/api/v1/pages/{page_id}/elements": {"post"},
        "/api/v1/pages/{page_id}/versions": {"get"},
        "/api/v1/pages/{page_id}/versions/{version}/restore": {"post"},
    }
    for route, methods in expected.items():
        assert route in paths, route
        assert methods <= set(paths[route]), (route, set(paths[route]))
    preview = paths["/api/v1/pages/{page_id}/preview"]["get"]
    assert "text/html" in preview["responses"]["200"]["content"]
    device = next(p for p in preview["parameters"] if p["name"] == "device")
    assert device["schema"]["enum"] == ["desktop", "tablet", "mobile"]


def test_absurdly_nested_json_is_422_not_a_crash(client: Any, tenant: Any) -> None:
    page = _create(client, tenant.headers)
    path = f"{BASE}/{page['id']}"
    deep = "[" * 800 + "]" * 800
    node = '{"type": "section", "props": {"x": ' + deep + "}}"
    headers = {**tenant.headers, "content-type": "application/json"}
    for method, url, body in [
        ("POST", BASE, '{"name": "x", "elements": [' + node + "]}"),
        ("PATCH", path, '{"elements": [' + node + "]}"),
        ("POST", f"{path}/elements", '{"element": ' + node + "}"),
    ]:
        r = client.request(method, url, content=body, headers=headers)
        error = _assert_error(r, 422, "validation_error")
        assert error["details"][0]["loc"][-1] in ("elements", "element")
    assert _get(client, tenant.headers, page["id"]) == page
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 1
