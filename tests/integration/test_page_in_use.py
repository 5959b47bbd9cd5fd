"""A page that a live funnel's published snapshot serves can be neither deleted nor unpublished."""

from __future__ import annotations

from typing import Any

from tests.support.funnels import FUNNELS, complete_funnel, ok

PAGES = "/api/v1/pages"


def _live_with_first_page_only_in_the_snapshot(
    client: Any, headers: dict[str, str]
) -> tuple[dict[str, Any], str, str]:
    """A published funnel whose first step (and page) is gone from the draft, not the snapshot."""
    f = complete_funnel(client, headers, name="Snapshot only")
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=headers))
    first = f["steps"][0]
    ok(client.delete(f"{FUNNELS}/{f['id']}/steps/{first['id']}", headers=headers), 204)
    return f, first["page_id"], first["slug"]


def test_a_page_only_the_live_snapshot_uses_cannot_be_deleted_or_unpublished(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    f, page_id, step_slug = _live_with_first_page_only_in_the_snapshot(client, h)
    live_step = f"/f/{tenant.slug}/{f['slug']}/{step_slug}"
    assert client.get(live_step).status_code == 200
    before = ok(client.get(f"{PAGES}/{page_id}", headers=h))

    for method, path in (
        ("DELETE", f"{PAGES}/{page_id}"),
        ("POST", f"{PAGES}/{page_id}/unpublish"),
    ):
        r = client.request(method, path, headers=h)
        assert r.status_code == 409, (method, r.text)
        assert r.json()["code"] == "page_in_use"
        assert r.json()["details"] == [{"funnel_id": f["id"]}]

    assert ok(client.get(f"{PAGES}/{page_id}", headers=h)) == before
    assert client.get(live_step).status_code == 200
    assert client.get(f"/f/{tenant.slug}/{f['slug']}").status_code == 200


def test_a_paused_funnel_does_not_hold_its_snapshot_pages(client: Any, tenant: Any) -> None:
    # Resuming a paused funnel publishes its draft again (pages included), so what the old
    # snapshot named is not what visitors will see: the page may go.
    h = tenant.headers
    f, page_id, _ = _live_with_first_page_only_in_the_snapshot(client, h)
    ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "paused"}, headers=h))
    ok(client.post(f"{PAGES}/{page_id}/unpublish", headers=h))
    ok(client.delete(f"{PAGES}/{page_id}", headers=h), 204)
    resumed = ok(client.patch(f"{FUNNELS}/{f['id']}", json={"status": "active"}, headers=h))
    assert resumed["status"] == "active"
    assert client.get(f"/f/{tenant.slug}/{f['slug']}").status_code == 200


def test_a_page_of_another_accounts_live_funnel_is_not_in_use_here(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    _, page_id, _ = _live_with_first_page_only_in_the_snapshot(client, tenant.headers)
    # The other account cannot see the page at all (404), let alone learn it is in use.
    r = client.delete(f"{PAGES}/{page_id}", headers=other_tenant.headers)
    assert r.status_code == 404
    r = client.post(f"{PAGES}/{page_id}/unpublish", headers=other_tenant.headers)
    assert r.status_code == 404
