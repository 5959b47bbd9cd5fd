"""Split tests over HTTP (#48-#51): creation rules, lifecycle, held pages, isolation, assignment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from domain.analytics.models import AnalyticsEvent
from domain.analytics.split_models import AbTest
from domain.shared.db import unit_of_work
from tests.support.funnels import FUNNELS, ok, page
from tests.support.split_tests import SPLITS, body, create, patch, refused, setup
from tests.support.tenancy import assert_isolated

PAGES = "/api/v1/pages"


def _count_tests(account_id: Any) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).where(AbTest.account_id == account_id)) or 0)


def test_create_makes_a_draft_with_the_steps_goal_and_control_first(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    test = create(client, h, body(s, (33.33, 33.33, 33.34)))
    assert test["status"] == "draft"
    assert (test["funnel_id"], test["step_id"]) == (s.funnel["id"], s.optin["id"])
    assert [v["page_id"] for v in test["variants"]] == s.pages
    assert [v["name"] for v in test["variants"]] == ["Control", "Headline", "Video"]
    assert [v["percent"] for v in test["variants"]] == [33.33, 33.33, 33.34]
    assert [v["is_control"] for v in test["variants"]] == [True, False, False]
    assert all(v["page_version"] is None for v in test["variants"])  # pinned at the start
    # the opt-in step's conversion: an opt-in, or a custom conversion event at that step
    assert test["goal"] == {
        "kind": "step",
        "step_id": s.optin["id"],
        "name": None,
        "event_types": ["optin", "conversion"],
    }
    order = s.funnel["steps"][1]
    later = create(client, h, body(s, goal={"step_id": order["id"]}))
    assert later["goal"]["event_types"] == ["purchase", "conversion"]
    custom = create(client, h, body(s, goal={"kind": "event", "name": "webinar_signup"}))
    assert custom["goal"] == {
        "kind": "event",
        "step_id": None,
        "name": "webinar_signup",
        "event_types": ["conversion"],
    }
    fetched = ok(client.get(f"{SPLITS}/{test['id']}", headers=h))
    assert fetched["results"]["status"] == "insufficient_sample"
    assert [v["exposures"] for v in fetched["results"]["variants"]] == [0, 0, 0]


def _bad_bodies(s: Any, client: Any, h: dict[str, str], other: Any) -> list[tuple[Any, str]]:
    """(body, what the error names) of create requests that must be refused."""
    draft_page = page(client, h, "Unpublished")
    foreign = setup(client, other.headers)
    order = s.funnel["steps"][1]
    upsell = s.funnel["steps"][2]
    bump = {"name": "Bump", "step_type": "order_bump", "product_id": order["product_id"]}
    bump_step = ok(client.post(f"{FUNNELS}/{s.funnel['id']}/steps", json=bump, headers=h), 201)
    return [
        (body(s, (50, 40)), "variants"),
        (body(s, (50.005, 49.995)), "variants"),
        (body(s, (100,)), "variants"),
        (body(s, (50, 50), variants=[]), "variants"),
        ({**body(s), "variants": [{"page_id": s.pages[0], "percent": 50}] * 2}, "page_id"),
        (
            {
                **body(s),
                "variants": [
                    {"page_id": draft_page, "percent": 50},
                    {"page_id": s.pages[1], "percent": 50},
                ],
            },
            "page_id",
        ),
        (
            {
                **body(s),
                "variants": [
                    {"page_id": foreign.pages[0], "percent": 50},
                    {"page_id": s.pages[1], "percent": 50},
                ],
            },
            "page_id",
        ),
        ({**body(s), "funnel_id": foreign.funnel["id"]}, "funnel_id"),
        ({**body(s), "step_id": foreign.optin["id"]}, "step_id"),
        ({**body(s), "step_id": upsell["id"], "goal": {"step_id": order["id"]}}, "step_id"),
        ({**body(s), "step_id": bump_step["id"]}, "no page to split"),
        ({**body(s), "goal": {"kind": "event", "step_id": order["id"]}}, "goal"),
        ({**body(s), "goal": {"kind": "step", "name": "x"}}, "goal"),
        ({**body(s), "name": ""}, "name"),
        ({**body(s), "surprise": 1}, "surprise"),
    ]


def test_bad_input_is_a_4xx_naming_the_field_and_creates_nothing(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    for bad, field in _bad_bodies(s, client, h, other_tenant):
        r = client.post(SPLITS, json=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert field in r.text, (field, r.text)
    for raw in (b"{", b"[]", b'{"name": "x"}'):
        r = client.post(SPLITS, content=raw, headers={**h, "Content-Type": "application/json"})
        assert r.status_code in (400, 422), r.text
    assert _count_tests(tenant.account_id) == 0


def test_lifecycle_moves_and_refusals(client: Any, tenant: Any) -> None:
    h = tenant.headers
    s = setup(client, h)
    test = create(client, h, body(s))
    tid = test["id"]
    for status in ("paused", "completed"):
        r = patch(client, h, tid, status=status)
        refused(r, 409, "invalid_transition")
    r = patch(client, h, tid, winner_variant_id=test["variants"][1]["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "invalid_transition"

    versions = [ok(client.get(f"{PAGES}/{p}", headers=h))["published_version"] for p in s.pages]
    started = ok(patch(client, h, tid, status="running"))
    assert started["status"] == "running"
    assert started["started_at"]
    assert [v["page_version"] for v in started["variants"]] == versions[:2]
    # a page edited and published again: the running test keeps serving the pinned version
    ok(client.patch(f"{PAGES}/{s.pages[1]}", json={"name": "Headline 2"}, headers=h))
    ok(client.post(f"{PAGES}/{s.pages[1]}/publish", headers=h))
    assert ok(patch(client, h, tid, status="running"))["variants"] == started["variants"]

    second = create(client, h, body(s))
    r = patch(client, h, second["id"], status="running")
    refused(r, 409, "step_has_running_test")
    assert r.json()["details"] == [{"ab_test_id": tid}]

    paused = ok(patch(client, h, tid, status="paused"))
    assert paused["status"] == "paused"
    assert paused["paused_at"]
    resumed = ok(patch(client, h, tid, status="running", name="Renamed"))
    assert (resumed["status"], resumed["name"], resumed["paused_at"]) == (
        "running",
        "Renamed",
        None,
    )
    assert resumed["started_at"] == started["started_at"]
    assert resumed["variants"] == started["variants"]

    r = patch(client, h, tid, winner_variant_id=second["variants"][0]["id"])
    assert r.status_code == 422
    assert "winner_variant_id" in r.text
    r = patch(client, h, tid, status="paused", winner_variant_id=test["variants"][1]["id"])
    assert r.status_code == 422
    assert ok(client.get(f"{SPLITS}/{tid}", headers=h))["status"] == "running"

    winner = test["variants"][1]["id"]
    done = ok(patch(client, h, tid, winner_variant_id=winner))
    assert (done["status"], done["winner_variant_id"]) == ("completed", winner)
    assert done["completed_at"]
    r = patch(client, h, tid, winner_variant_id=test["variants"][0]["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "winner_declared"
    for status in ("running", "paused"):
        r = patch(client, h, tid, status=status)
        assert r.status_code == 409
        assert r.json()["code"] == "invalid_transition"
    # the funnel itself is unchanged by the declaration
    funnel = ok(client.get(f"{FUNNELS}/{s.funnel['id']}", headers=h))
    assert funnel["steps"][0]["page_id"] == s.optin["page_id"]
    # the step is free again: the second test may start now
    assert ok(patch(client, h, second["id"], status="running"))["status"] == "running"


def test_a_page_of_a_running_or_paused_test_can_be_neither_deleted_nor_unpublished(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    test = create(client, h, body(s))
    # a draft holds nothing
    spare = create(
        client,
        h,
        body(
            s,
            variants=[
                {"page_id": s.pages[2], "percent": 50},
                {"page_id": s.pages[0], "percent": 50},
            ],
        ),
    )
    ok(patch(client, h, test["id"], status="running"))
    for status in ("running", "paused"):
        ok(patch(client, h, test["id"], status=status))
        for method, path in (
            ("DELETE", f"{PAGES}/{s.pages[1]}"),
            ("POST", f"{PAGES}/{s.pages[1]}/unpublish"),
        ):
            r = client.request(method, path, headers=h)
            assert r.status_code == 409, (method, r.text)
            assert r.json()["code"] == "page_in_use"
            assert r.json()["details"] == [{"ab_test_id": test["id"]}]
        assert ok(client.get(f"{PAGES}/{s.pages[1]}", headers=h))["status"] == "published"
    # the spare draft's own page is not held; starting it then finds it unpublished
    ok(client.post(f"{PAGES}/{s.pages[2]}/unpublish", headers=h))
    r = patch(client, h, spare["id"], status="running")
    assert r.status_code == 409
    ok(patch(client, h, test["id"], status="completed"))
    r = patch(client, h, spare["id"], status="running")
    refused(r, 409, "page_not_published")
    assert r.json()["details"] == [
        {"variant_id": spare["variants"][0]["id"], "page_id": s.pages[2]}
    ]
    ok(client.post(f"{PAGES}/{s.pages[1]}/unpublish", headers=h))
    ok(client.delete(f"{PAGES}/{s.pages[1]}", headers=h), 204)


def test_another_accounts_test_is_404_and_unchanged(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    test = create(client, h, body(s))
    tid = test["id"]
    ok(patch(client, h, tid, status="running"))
    assert_isolated(
        client,
        other_tenant.headers,
        [
            ("GET", f"{SPLITS}/{tid}", None),
            ("GET", f"{SPLITS}/{tid}/chart.svg", None),
            ("GET", f"{SPLITS}/{tid}/assignment?visitor_id=v1", None),
            ("PATCH", f"{SPLITS}/{tid}", {"status": "paused"}),
            ("PATCH", f"{SPLITS}/{tid}", {"winner_variant_id": test["variants"][0]["id"]}),
        ],
        lambda: ok(client.get(f"{SPLITS}/{tid}", headers=h)),
    )
    # nor can the other account build a test on this account's funnel and pages
    r = client.post(SPLITS, json=body(s), headers=other_tenant.headers)
    assert r.status_code == 422
    assert "funnel_id" in r.text


def _assignments(client: Any, h: dict[str, str], tid: str, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        r = ok(client.get(f"{SPLITS}/{tid}/assignment", params={"visitor_id": f"v-{i}"}, headers=h))
        out.append((r["variant_id"], r["by"]))
    return out


def test_assignment_is_sticky_across_pause_and_resume_and_records_nothing(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    test = create(client, h, body(s, (20, 80)))
    tid = test["id"]
    ok(patch(client, h, tid, status="running"))
    running = _assignments(client, h, tid, 25)
    assert {v for v, _ in running} == {v["id"] for v in test["variants"]}
    assert running == _assignments(client, h, tid, 25)
    ok(patch(client, h, tid, status="paused"))
    one = ok(client.get(f"{SPLITS}/{tid}/assignment?visitor_id=v-0", headers=h))
    assert one["serving"] is False
    assert _assignments(client, h, tid, 25) == running
    ok(patch(client, h, tid, status="running"))
    assert _assignments(client, h, tid, 25) == running
    with unit_of_work() as session:
        stored = session.scalar(
            select(func.count()).where(AnalyticsEvent.account_id == tenant.account_id)
        )
    assert stored == 0  # reading an assignment records no exposure
    winner = test["variants"][0]["id"]
    ok(patch(client, h, tid, winner_variant_id=winner))
    assert _assignments(client, h, tid, 25) == [(winner, "winner")] * 25


def test_a_bad_visitor_id_is_422(client: Any, tenant: Any) -> None:
    h = tenant.headers
    s = setup(client, h)
    tid = create(client, h, body(s))["id"]
    for query in ("", "?visitor_id=", "?visitor_id=has%20space", "?visitor_id=" + "x" * 65):
        r = client.get(f"{SPLITS}/{tid}/assignment{query}", headers=h)
        assert r.status_code == 422, query
        assert "visitor_id" in r.text
