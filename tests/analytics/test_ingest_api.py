"""POST /api/v1/analytics/track and /track/batch: who may send what, and what reaches the stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.shared.settings import get_settings
from tests.analytics.conftest import StreamTail, make_funnel

TRACK = "/api/v1/analytics/track"
BATCH = "/api/v1/analytics/track/batch"


def event(funnel: str, **extra: Any) -> dict[str, Any]:
    """A valid page_view of the funnel, with a fresh event id."""
    return {
        "event_id": f"e-{uuid.uuid4().hex}",
        "type": "page_view",
        "funnel_id": funnel,
        "visitor_id": "v-1",
        "session_id": "s-1",
        **extra,
    }


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def limits(app: Any) -> Iterator[Any]:
    """Run the app with some settings changed (the tracking routes read overrides too)."""

    def apply(**changes: Any) -> None:
        settings = get_settings().model_copy(update=changes)
        app.dependency_overrides[get_settings] = lambda: settings

    yield apply
    app.dependency_overrides.pop(get_settings, None)


# --- accepted, and really in the stream ------------------------------------------------------


def test_one_event_with_the_key_header_is_queued_as_sent(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    when = datetime.now(UTC) - timedelta(hours=3)
    sent = event(
        funnel,
        step_id=str(uuid.uuid4()),
        occurred_at=stamp(when),
        properties={"button": "buy", "n": 2},
    )
    r = client.post(TRACK, json=sent, headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "event_id": sent["event_id"]}
    [(account_id, received_at, events)] = stream.entries(tenant.account_id)
    assert account_id == tenant.account_id
    assert abs(received_at - datetime.now(UTC)) < timedelta(minutes=1)
    [stored] = events
    assert datetime.fromisoformat(stored.pop("occurred_at")) == when
    assert stored == {
        "event_id": sent["event_id"],
        "type": "page_view",
        "source": "client",
        "funnel_id": funnel,
        "step_id": sent["step_id"],
        "page_id": None,
        "visitor_id": "v-1",
        "session_id": "s-1",
        "amount_cents": None,
        "currency": None,
        "order_id": None,
        "ab_test_id": None,
        "variant_id": None,
        "properties": {"button": "buy", "n": 2},
    }


def test_without_occurred_at_the_event_takes_the_time_received(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    r = client.post(TRACK, json=event(funnel), params={"key": tenant.publishable_key})
    assert r.status_code == 202, r.text
    [(_, received_at, [stored])] = stream.entries(tenant.account_id)
    assert datetime.fromisoformat(stored["occurred_at"]) == received_at


@pytest.mark.parametrize("how", ["header", "query", "body", "bearer"])
def test_the_key_may_come_as_header_query_or_body_or_a_bearer_instead(
    client: Any, tenant: Any, funnel: str, stream: StreamTail, how: str
) -> None:
    body, params, headers = event(funnel), {}, {}
    if how == "header":
        headers = {"X-Publishable-Key": tenant.publishable_key}
    elif how == "query":
        params = {"key": tenant.publishable_key}
    elif how == "body":
        body["key"] = tenant.publishable_key
    else:
        headers = tenant.headers
    r = client.post(TRACK, json=body, params=params, headers=headers)
    assert r.status_code == 202, r.text
    assert [e["event_id"] for e in stream.events(tenant.account_id)] == [body["event_id"]]


def test_a_send_beacon_text_plain_body_from_another_origin_needs_no_preflight(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    body = {**event(funnel), "key": tenant.publishable_key}
    r = client.post(
        TRACK,
        content=json.dumps(body),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example"},
    )
    assert r.status_code == 202, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    batch = {"events": [event(funnel)], "key": tenant.publishable_key}
    r = client.post(BATCH, content=json.dumps(batch), headers={"Content-Type": "text/plain"})
    assert r.status_code == 202, r.text
    assert len(stream.events(tenant.account_id)) == 2


@pytest.mark.parametrize("path", [TRACK, BATCH])
def test_a_preflight_from_any_origin_is_answered_on_the_tracking_routes_only(
    client: Any, path: str
) -> None:
    preflight = {
        "Origin": "https://pages.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-publishable-key",
    }
    r = client.options(path, headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-publishable-key" in r.headers["access-control-allow-headers"].lower()
    other = client.options("/api/v1/funnels", headers=preflight)
    assert "access-control-allow-origin" not in other.headers


def test_errors_on_the_tracking_routes_carry_cors_headers_too(client: Any, funnel: str) -> None:
    r = client.post(TRACK, json=event(funnel), headers={"Origin": "https://a.example"})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == "*"


# --- credentials and tenancy -------------------------------------------------------------------


def test_no_credentials_or_a_wrong_key_is_401_and_queues_nothing(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    r = client.post(TRACK, json=event(funnel))
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    r = client.post(TRACK, json=event(funnel), headers={"X-Publishable-Key": "pk_not_a_key"})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_publishable_key")
    r = client.post(BATCH, json={"events": [event(funnel)], "key": "pk_nope"})
    assert r.status_code == 401
    assert stream.events(tenant.account_id) == []


def test_a_funnel_of_another_account_is_refused_with_either_key_and_never_queued(
    client: Any, tenant: Any, other_tenant: Any, funnel: str, stream: StreamTail
) -> None:
    theirs = make_funnel(client, other_tenant.headers)
    for key, target in (
        (tenant.publishable_key, theirs),  # my key, their funnel
        (other_tenant.publishable_key, funnel),  # their key, my funnel
        (tenant.publishable_key, str(uuid.uuid4())),  # nobody's funnel
    ):
        r = client.post(TRACK, json=event(target), headers={"X-Publishable-Key": key})
        assert (r.status_code, r.json()["code"]) == (404, "funnel_not_found"), r.text
    r = client.post(TRACK, json=event(theirs), headers=tenant.headers)  # a bearer alike
    assert r.status_code == 404
    r = client.post(BATCH, json={"events": [event(theirs)], "key": tenant.publishable_key})
    assert r.json()["rejected"][0]["code"] == "funnel_not_found"
    assert stream.events(tenant.account_id) == []
    assert stream.events(other_tenant.account_id) == []


def test_the_account_comes_from_the_key_never_from_the_body(
    client: Any, tenant: Any, other_tenant: Any, funnel: str, stream: StreamTail
) -> None:
    body = {**event(funnel), "account_id": str(other_tenant.account_id)}
    r = client.post(TRACK, json=body, headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 422
    assert r.json()["details"][0]["loc"] == ["body", "account_id"]
    assert stream.events(tenant.account_id) == stream.events(other_tenant.account_id) == []


# --- validation ---------------------------------------------------------------------------------

BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("event_id empty", {"event_id": ""}, "event_id"),
    ("event_id too long", {"event_id": "e" * 65}, "event_id"),
    ("event_id odd characters", {"event_id": "e 1/2"}, "event_id"),
    ("no event_id", {"event_id": None}, "event_id"),
    ("unknown type", {"type": "click"}, "type"),
    ("purchase from a client", {"type": "purchase"}, "type"),
    ("upsell answer from a client", {"type": "upsell_accepted"}, "type"),
    ("declined upsell from a client", {"type": "upsell_declined"}, "type"),
    ("funnel_id not a uuid", {"funnel_id": "funnel-1"}, "funnel_id"),
    ("step_id not a uuid", {"step_id": 12}, "step_id"),
    ("visitor_id too long", {"visitor_id": "v" * 65}, "visitor_id"),
    ("visitor_id odd characters", {"visitor_id": "<script>"}, "visitor_id"),
    ("no session_id", {"session_id": None}, "session_id"),
    ("occurred_at without a zone", {"occurred_at": "2026-12-01T10:00:00"}, "occurred_at"),
    ("occurred_at as a number", {"occurred_at": 1764583200}, "occurred_at"),
    ("properties not an object", {"properties": [1, 2]}, "properties"),
    ("a property too long", {"properties": {"text": "x" * 201}}, "properties"),
    ("nested properties", {"properties": {"utm": {"source": "ad"}}}, "properties"),
    ("too many properties", {"properties": {f"k{i}": i for i in range(33)}}, "properties"),
    ("exposure without its test", {"type": "exposure"}, ""),
    ("a money field from a client", {"amount_cents": 4900}, "amount_cents"),
    ("NUL in a property", {"properties": {"a": "x\u0000y"}}, ""),
]


@pytest.mark.parametrize(
    ("change", "loc"),
    [(c, loc) for _, c, loc in BAD_EVENTS],
    ids=[name for name, _, _ in BAD_EVENTS],
)
def test_a_bad_event_is_422_naming_its_field_and_queues_nothing(
    client: Any, tenant: Any, funnel: str, stream: StreamTail, change: dict[str, Any], loc: str
) -> None:
    body = {**event(funnel), **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post(TRACK, json=body, headers={"X-Publishable-Key": tenant.publishable_key})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    if loc:
        assert ["body", loc] in [d["loc"][:2] for d in r.json()["details"]]
    batch = {"events": [event(funnel), body], "key": tenant.publishable_key}
    r = client.post(BATCH, json=batch)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    [rejection] = r.json()["rejected"]
    assert (rejection["index"], rejection["code"]) == (1, "validation_error")
    if loc:
        assert ["body", "events", "1", loc] in [d["loc"][:4] for d in rejection["details"]]
    assert [e["event_id"] for e in stream.events(tenant.account_id)] == [
        batch["events"][0]["event_id"]
    ]


def test_a_purchase_from_a_client_says_it_is_the_servers_fact(client: Any, tenant: Any) -> None:
    body = event(str(uuid.uuid4()), type="purchase", key=tenant.publishable_key)
    r = client.post(TRACK, json=body)
    assert r.status_code == 422
    assert "recorded by the server" in r.json()["details"][0]["msg"]


def test_an_exposure_with_its_test_and_variant_is_accepted(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    test_id, variant_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = event(funnel, type="exposure", ab_test_id=test_id, variant_id=variant_id)
    r = client.post(TRACK, json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    [stored] = stream.events(tenant.account_id)
    assert (stored["type"], stored["ab_test_id"], stored["variant_id"]) == (
        "exposure",
        test_id,
        variant_id,
    )


def test_late_events_inside_the_window_are_taken_and_older_or_future_ones_refused(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    settings = get_settings()
    now = datetime.now(UTC)
    late = timedelta(days=settings.analytics_late_event_days)
    skew = timedelta(seconds=settings.analytics_future_skew_seconds)
    key = {"X-Publishable-Key": tenant.publishable_key}
    cases = [
        (now - late + timedelta(minutes=5), 202, None),
        (now - late - timedelta(minutes=5), 422, "occurred_at_too_old"),
        (now + skew - timedelta(seconds=30), 202, None),
        (now + skew + timedelta(seconds=60), 422, "occurred_at_in_future"),
    ]
    sent = []
    for when, status, code in cases:
        body = event(funnel, occurred_at=stamp(when))
        r = client.post(TRACK, json=body, headers=key)
        assert r.status_code == status, (when, r.text)
        if code:
            assert r.json()["code"] == code
            assert r.json()["details"][0]["loc"] == ["body", "occurred_at"]
        else:
            sent.append(body["event_id"])
    assert [e["event_id"] for e in stream.events(tenant.account_id)] == sent
    batch = [event(funnel, occurred_at=stamp(when)) for when, _, _ in cases]
    r = client.post(BATCH, json={"events": batch}, headers=key)
    assert [(x["index"], x["code"]) for x in r.json()["rejected"]] == [
        (1, "occurred_at_too_old"),
        (3, "occurred_at_in_future"),
    ]


def test_the_windows_are_settings(client: Any, tenant: Any, funnel: str, limits: Any) -> None:
    limits(analytics_late_event_days=1, analytics_future_skew_seconds=0)
    key = {"X-Publishable-Key": tenant.publishable_key}
    two_days_ago = stamp(datetime.now(UTC) - timedelta(days=2))
    r = client.post(TRACK, json=event(funnel, occurred_at=two_days_ago), headers=key)
    assert r.json()["code"] == "occurred_at_too_old"
    soon = stamp(datetime.now(UTC) + timedelta(seconds=20))
    r = client.post(TRACK, json=event(funnel, occurred_at=soon), headers=key)
    assert r.json()["code"] == "occurred_at_in_future"


# --- the batch ----------------------------------------------------------------------------------


def test_a_batch_queues_its_good_events_as_one_entry_and_names_the_bad_by_index(
    client: Any, tenant: Any, other_tenant: Any, funnel: str, stream: StreamTail
) -> None:
    theirs = make_funnel(client, other_tenant.headers)
    events = [
        event(funnel),
        event(funnel, type="purchase"),
        event(theirs),
        event(funnel, visitor_id="v-2", type="optin"),
        "not an object",
        event(funnel, occurred_at=stamp(datetime.now(UTC) - timedelta(days=400))),
    ]
    r = client.post(BATCH, json={"events": events}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [
        (1, "validation_error"),
        (2, "funnel_not_found"),
        (4, "validation_error"),
        (5, "occurred_at_too_old"),
    ]
    [(_, _, queued)] = stream.entries(tenant.account_id)
    assert [e["event_id"] for e in queued] == [events[0]["event_id"], events[3]["event_id"]]


def test_a_batch_of_500_is_one_entry(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    events = [event(funnel, visitor_id=f"v-{i}") for i in range(500)]
    r = client.post(BATCH, json={"events": events, "key": tenant.publishable_key})
    assert (r.status_code, r.json()) == (202, {"accepted": 500, "rejected": []})
    [(_, _, queued)] = stream.entries(tenant.account_id)
    assert [e["event_id"] for e in queued] == [e["event_id"] for e in events]


def test_a_batch_with_nothing_good_queues_no_entry(
    client: Any, tenant: Any, funnel: str, stream: StreamTail
) -> None:
    r = client.post(BATCH, json={"events": [{"type": "page_view"}], "key": tenant.publishable_key})
    assert (r.status_code, r.json()["accepted"]) == (202, 0)
    assert stream.entries(tenant.account_id) == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"events": []},
        {"events": "page_view"},
        {"event": []},
        {"events": [{}] * 501},
        {"events": [{}], "extra": 1},
    ],
    ids=["a list", "no events", "events not a list", "misspelt", "501 events", "unknown field"],
)
def test_a_body_that_is_no_batch_is_422_and_queues_nothing(
    client: Any, tenant: Any, stream: StreamTail, body: Any
) -> None:
    r = client.post(BATCH, json=body, headers={"X-Publishable-Key": tenant.publishable_key})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert stream.entries(tenant.account_id) == []


@pytest.mark.parametrize("path", [TRACK, BATCH])
def test_a_body_that_is_not_json_is_422_and_another_media_type_415(
    client: Any, tenant: Any, path: str
) -> None:
    headers = {"X-Publishable-Key": tenant.publishable_key, "Content-Type": "text/plain"}
    r = client.post(path, content=b"{not json", headers=headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert r.json()["details"][0]["type"] == "json_invalid"
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    r = client.post(path, content=b"event_id=1", headers=form)
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")


# --- rate limits and outages --------------------------------------------------------------------


def test_publishable_key_callers_spend_the_tracking_budgets(
    client: Any, tenant: Any, funnel: str, stream: StreamTail, limits: Any
) -> None:
    limits(rate_limit_tracking_client="2/10 seconds", rate_limit_tracking="1000/10 seconds")
    key = {"X-Publishable-Key": tenant.publishable_key}
    sent = [event(funnel) for _ in range(3)]
    first = client.post(TRACK, json=sent[0], headers=key)
    assert first.status_code == 202
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert client.post(BATCH, json={"events": [sent[1]]}, headers=key).status_code == 202
    r = client.post(TRACK, json=sent[2], headers=key)
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 10
    assert r.json()["retry_after"] == int(r.headers["Retry-After"])
    assert [e["event_id"] for e in stream.events(tenant.account_id)] == [
        sent[0]["event_id"],
        sent[1]["event_id"],
    ]


def test_redis_unreachable_is_503_with_a_json_error(
    client: Any, tenant: Any, funnel: str, limits: Any
) -> None:
    from devtools.embedded import free_port

    limits(redis_url=f"redis://127.0.0.1:{free_port()}/0", analytics_queue_timeout_seconds=0.5)
    key = {"X-Publishable-Key": tenant.publishable_key}
    r = client.post(TRACK, json=event(funnel), headers=key)
    assert (r.status_code, r.json()["code"]) == (503, "analytics_unavailable"), r.text
    r = client.post(BATCH, json={"events": [event(funnel)]}, headers=key)
    assert (r.status_code, r.json()["code"]) == (503, "analytics_unavailable")
    r = client.get(f"/api/v1/analytics/funnels/{funnel}/realtime", headers=tenant.headers)
    assert (r.status_code, r.json()["code"]) == (503, "analytics_unavailable")
