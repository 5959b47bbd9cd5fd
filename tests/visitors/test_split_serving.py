"""A step under a running split test serves each visitor their sticky variant."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.funnels import SIMPLE_TREE, ok
from tests.support.split_tests import SPLITS
from tests.support.visitors import context_of, live_template, step_url


def _published_page(client: Any, headers: dict[str, str], headline: str) -> str:
    """A published page whose headline names it."""
    tree = copy.deepcopy(SIMPLE_TREE)
    tree[0]["children"][0]["children"][0]["children"][0]["props"]["text"] = headline
    body = {"name": headline, "page_type": "generic", "elements": tree}
    page_id: str = ok(client.post("/api/v1/pages", json=body, headers=headers), 201)["id"]
    ok(client.post(f"/api/v1/pages/{page_id}/publish", headers=headers))
    return page_id


def test_visitors_get_their_sticky_variant_and_the_page_reports_the_exposure(
    client: Any, tenant: Any
) -> None:
    live = live_template(client, tenant.headers, "lead-magnet")
    step = live["steps"]["optin"]
    pages = {
        _published_page(client, tenant.headers, "Control headline"): "Control headline",
        _published_page(client, tenant.headers, "Bold headline"): "Bold headline",
    }
    body = {
        "name": "Headline",
        "funnel_id": live["funnel"]["id"],
        "step_id": step["id"],
        "variants": [{"page_id": page, "percent": 50} for page in pages],
    }
    test = ok(client.post(SPLITS, json=body, headers=tenant.headers), 201)
    url = step_url(tenant.slug, live, "optin")
    # A draft test serves nothing yet: the step's own page, the same for everyone.
    before = client.get(url)
    assert "Vary" not in before.headers
    assert context_of(before.text)["ab_test_id"] is None
    ok(client.patch(f"{SPLITS}/{test['id']}", json={"status": "running"}, headers=tenant.headers))

    seen: set[str] = set()
    for checked in range(40):
        if seen == set(pages) and checked >= 6:
            break
        client.cookies.clear()
        first = client.get(url)
        visitor = client.cookies.get("visitor_id")
        ctx = context_of(first.text)
        assert first.headers["vary"] == "Cookie"
        assert ctx["ab_test_id"] == test["id"]
        assert ctx["page_id"] in pages
        assert pages[ctx["page_id"]] in first.text
        # The page the API assigns, and the same page again on the next view.
        assignment = ok(
            client.get(
                f"{SPLITS}/{test['id']}/assignment",
                params={"visitor_id": visitor},
                headers=tenant.headers,
            )
        )
        assert assignment["page_id"] == ctx["page_id"]
        assert assignment["variant_id"] == ctx["variant_id"]
        again = context_of(client.get(url).text)
        assert (again["variant_id"], again["page_id"]) == (ctx["variant_id"], ctx["page_id"])
        seen.add(ctx["page_id"])
    assert seen == set(pages)  # up to 40 visitors at 50/50: both pages served

    script = client.get("/f/_assets/visitor.js").text
    assert 'track("exposure")' in script

    # Paused: the step's own page again, for everyone.
    ok(client.patch(f"{SPLITS}/{test['id']}", json={"status": "paused"}, headers=tenant.headers))
    paused = client.get(url)
    assert context_of(paused.text)["ab_test_id"] is None
    assert "Vary" not in paused.headers
