"""The rollup equals a hand-worked example and an independent dict-loop reference, run whole
or in arbitrary chunks; uniques over a range are the size of a union, never a sum."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.analytics.rollup import BUMP_COLUMN, EVENT_COLUMNS, rollup
from domain.analytics.rollup_rows import (
    StepDayRow,
    union_visitors,
    unique_visitors,
    visitors_from_bytes,
)
from domain.analytics.rollup_runs import events_needed, replace_groups, touched_groups

UTC = dt.UTC
COUNTS = ("views", "entries", "exits", "optins", "checkouts", "purchases", "conversions",
          "upsells_accepted", "upsells_declined", "bump_purchases")
STEP_TYPES = {"a": "optin", "b": "order_form", "c": "upsell", "d": "page", "x": "downsell"}
# Written again here, not imported, so the reference does not share the code under test.
GOALS = {"optin": "optin", "order_form": "purchase", "upsell": "upsell_accepted",
         "downsell": "upsell_accepted"}
TYPES = ["page_view", "optin", "checkout_started", "purchase", "upsell_accepted",
         "upsell_declined", "conversion"]
# Each zone with an instant near one of its DST transitions (or any instant, for fixed zones).
ZONE_ANCHORS = {
    "Europe/Berlin": dt.datetime(2026, 3, 29, 1, tzinfo=UTC),
    "America/New_York": dt.datetime(2026, 11, 1, 6, tzinfo=UTC),
    "Australia/Lord_Howe": dt.datetime(2026, 4, 4, 15, tzinfo=UTC),
    "America/Santiago": dt.datetime(2026, 9, 6, 4, tzinfo=UTC),
    "Asia/Kathmandu": dt.datetime(2026, 6, 1, 18, 15, tzinfo=UTC),
    "UTC": dt.datetime(2026, 1, 1, tzinfo=UTC),
}


def frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """Events as the rollup takes them."""
    return pd.DataFrame(events, columns=[*EVENT_COLUMNS, BUMP_COLUMN])


def event(
    event_id: str, session: str, visitor: int, step: str, kind: str, at: dt.datetime,
    cents: int = 0, currency: str | None = None, funnel: str = "f", bumps: int = 0,
) -> dict[str, Any]:
    """One raw event."""
    return {"event_id": event_id, "visitor_ordinal": visitor, "session_id": session,
            "funnel_id": funnel, "step_id": step, "type": kind, "occurred_at": at,
            "amount_cents": cents, "currency": currency, "bump_count": bumps}


def as_dict(rows: list[StepDayRow]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows keyed by (funnel, step, day, currency), visitors as a plain set."""
    result = {}
    for row in rows:
        key = (row.funnel_id, row.step_id, row.day, row.currency)
        assert key not in result
        values: dict[str, Any] = {name: getattr(row, name) for name in COUNTS}
        values["visitors"] = set(row.visitors)
        values["revenue_cents"] = row.revenue_cents
        result[key] = values
    return result


def reference(events: list[dict[str, Any]], zone: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rollup by plain loops over dicts, from SPEC's definitions."""
    tz = ZoneInfo(zone)
    seen: set[str] = set()
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    first: dict[tuple[str, str], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    last: dict[tuple[str, str], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}

    def row(key: tuple[Any, ...]) -> dict[str, Any]:
        return out.setdefault(key, {**dict.fromkeys(COUNTS, 0), "visitors": set(),
                                    "revenue_cents": 0})

    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        day = e["occurred_at"].astimezone(tz).date()
        key = (e["funnel_id"], e["step_id"], day, "")
        counts = row(key)
        kind = e["type"]
        if kind == "page_view":
            counts["views"] += 1
            counts["visitors"].add(e["visitor_ordinal"])
            session = (e["funnel_id"], e["session_id"])
            order = (e["occurred_at"], e["event_id"])
            if session not in first or order < first[session][0]:
                first[session] = (order, key)
            if session not in last or order > last[session][0]:
                last[session] = (order, key)
        counts["optins"] += kind == "optin"
        counts["checkouts"] += kind == "checkout_started"
        counts["purchases"] += kind == "purchase"
        counts["upsells_accepted"] += kind == "upsell_accepted"
        counts["upsells_declined"] += kind == "upsell_declined"
        counts["bump_purchases"] += kind == "purchase" and e["bump_count"] > 0
        goal = GOALS.get(STEP_TYPES.get(e["step_id"], ""))
        counts["conversions"] += kind == goal or kind == "conversion"
        if kind in ("purchase", "upsell_accepted"):
            row((*key[:3], e["currency"]))["revenue_cents"] += e["amount_cents"]
    for _, key in first.values():
        out[key]["entries"] += 1
    for _, key in last.values():
        out[key]["exits"] += 1
    return out


# --- the hand-worked example: Europe/Berlin, clocks jump 02:00 CET -> 03:00 CEST on 29 March.

def t(day: int, hour: int, minute: int) -> dt.datetime:
    """An instant of March 2026 in UTC."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


MAR28, MAR29, MAR30 = dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)
HAND = [
    event("e1", "s1", 1, "a", "page_view", t(28, 22, 59)),  # 23:59 CET, 28th
    event("e1", "s1", 1, "a", "page_view", t(28, 22, 59)),  # resent: counts once
    event("e2", "s1", 1, "b", "page_view", t(28, 23, 1)),  # 00:01 CET, 29th
    event("e3", "s1", 1, "a", "optin", t(28, 23, 0)),  # exactly local midnight: the 29th
    event("e4", "s2", 2, "a", "page_view", t(29, 0, 59)),  # 01:59 CET, just before the jump
    event("e5", "s2", 2, "b", "page_view", t(29, 1, 0)),  # 03:00 CEST
    event("e6", "s2", 2, "b", "checkout_started", t(29, 1, 1)),
    event("e7", "s2", 2, "b", "purchase", t(29, 1, 2), 4700, "EUR", bumps=1),
    event("e8", "s2", 2, "c", "page_view", t(29, 1, 3)),
    event("e9", "s2", 2, "c", "upsell_accepted", t(29, 1, 4), 1900, "EUR"),
    event("e10", "s3", 1, "a", "page_view", t(29, 22, 0)),  # 00:00 CEST, 30th (UTC: 29th)
    event("e11", "s3", 1, "b", "page_view", t(29, 22, 5)),
    event("e12", "s3", 1, "b", "purchase", t(29, 22, 6), 2500, "USD"),
    event("e13", "s3", 1, "a", "conversion", t(29, 22, 7)),
    # Late: arrives last, happened first, so it is s1's entry (step c on the 28th), not e1.
    event("e0", "s1", 1, "c", "page_view", t(28, 22, 0)),
]


def counts(views: int, visitors: set[int], **others: int) -> dict[str, Any]:
    """Expected values of a counts row."""
    values: dict[str, Any] = {**dict.fromkeys(COUNTS, 0), "revenue_cents": 0}
    return {**values, "views": views, "visitors": visitors, **others}


def money(cents: int) -> dict[str, Any]:
    """Expected values of a currency row."""
    return {**dict.fromkeys(COUNTS, 0), "visitors": set(), "revenue_cents": cents}


HAND_EXPECTED = {
    ("f", "a", MAR28, ""): counts(1, {1}),
    ("f", "c", MAR28, ""): counts(1, {1}, entries=1),
    ("f", "a", MAR29, ""): counts(1, {2}, entries=1, optins=1, conversions=1),
    ("f", "b", MAR29, ""): counts(
        2, {1, 2}, exits=1, checkouts=1, purchases=1, conversions=1, bump_purchases=1
    ),
    ("f", "b", MAR29, "EUR"): money(4700),
    ("f", "c", MAR29, ""): counts(1, {2}, exits=1, conversions=1, upsells_accepted=1),
    ("f", "c", MAR29, "EUR"): money(1900),
    ("f", "a", MAR30, ""): counts(1, {1}, entries=1, conversions=1),
    ("f", "b", MAR30, ""): counts(1, {1}, exits=1, purchases=1, conversions=1),
    ("f", "b", MAR30, "USD"): money(2500),
}


def test_hand_worked_example_across_midnight_and_dst() -> None:
    rows = rollup(frame(HAND), "Europe/Berlin", STEP_TYPES)

    assert as_dict(rows) == HAND_EXPECTED
    assert as_dict(rows) == reference(HAND, "Europe/Berlin")


def test_utc_days_differ_from_the_account_zone() -> None:
    days = {row.day for row in rollup(frame(HAND), "UTC", STEP_TYPES)}

    # In UTC nothing happened on the 30th: e10-e13 are the 29th there.
    assert days == {MAR28, MAR29}


def test_range_uniques_are_a_union_not_a_sum_of_days() -> None:
    rows = rollup(frame(HAND), "Europe/Berlin", STEP_TYPES)
    step_a = [row for row in rows if row.step_id == "a"]

    # Visitor 1 viewed step a on the 28th and the 30th: one visitor, not two.
    assert sum(row.unique_visitors for row in step_a) == 3
    assert unique_visitors(rows, MAR28, MAR30, step_id="a") == 2
    assert unique_visitors(rows, MAR29, MAR30, step_id="b") == 2
    assert unique_visitors(rows, MAR28, MAR28) == 1
    assert unique_visitors(rows, MAR28, MAR30, funnel_id="f") == 2
    assert set(union_visitors(step_a)) == {1, 2}


def test_visitor_sets_survive_serialization() -> None:
    rows = rollup(frame(HAND), "Europe/Berlin", STEP_TYPES)

    for row in rows:
        assert visitors_from_bytes(row.visitors_bytes()) == row.visitors


def test_unknown_step_counts_only_the_custom_goal() -> None:
    events = [
        event("1", "s", 0, "zz", "optin", t(10, 12, 0)),
        event("2", "s", 0, "zz", "conversion", t(10, 12, 1)),
    ]

    (row,) = rollup(frame(events), "UTC", STEP_TYPES)

    assert (row.optins, row.conversions) == (1, 1)


def test_empty_input_gives_no_rows() -> None:
    assert rollup(frame([]), "UTC", STEP_TYPES) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"visitor_ordinal": -1}, "visitor_ordinal"),
        ({"visitor_ordinal": 2**32}, "visitor_ordinal"),
        ({"type": "purchase", "amount_cents": 100, "currency": None}, "currency"),
        ({"occurred_at": dt.datetime(2026, 3, 1, 12)}, "UTC"),  # noqa: DTZ001 - naive on purpose
        ({"session_id": None}, "session_id"),
        ({"step_id": None}, "step_id"),
        ({"type": "click"}, "click"),
    ],
)
def test_bad_events_are_refused(change: dict[str, Any], message: str) -> None:
    bad = {**event("1", "s", 0, "a", "page_view", t(10, 12, 0)), **change}

    with pytest.raises(ValueError, match=message):
        rollup(frame([bad]), "UTC", STEP_TYPES)


def test_missing_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="session_id"):
        rollup(frame(HAND).drop(columns="session_id"), "UTC", STEP_TYPES)


# --- properties over random streams: duplicates, late events, zone edges, run boundaries.

@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A zone and a shuffled event stream around one of its edges, with resent events."""
    zone = draw(st.sampled_from(sorted(ZONE_ANCHORS)))
    anchor = ZONE_ANCHORS[zone]
    count = draw(st.integers(0, 40))
    events = []
    for index in range(count):
        kind = draw(st.sampled_from([*TYPES, *["page_view"] * 5]))  # views are most events
        session = draw(st.integers(0, 5))
        is_money = kind in ("purchase", "upsell_accepted")
        events.append(event(
            f"e{index}",
            f"s{session}",
            session % 3,  # a visitor has several sessions, some on other days
            draw(st.sampled_from(["a", "b", "c", "d", "x", "zz"])),
            kind,
            # Half-hour steps over three days (local midnights hit exactly), or crowded
            # around the DST edge, so events of a session often share an instant.
            anchor + dt.timedelta(minutes=30 * draw(
                st.one_of(st.integers(-72, 72), st.sampled_from([-1, 0, 1]))
            )),
            draw(st.integers(0, 10_000)) if is_money else 0,
            draw(st.sampled_from(["EUR", "USD"])) if is_money else None,
            draw(st.sampled_from(["f", "g"])),
            draw(st.integers(0, 2)) if kind == "purchase" else 0,
        ))
    if events:
        resent = draw(st.lists(st.sampled_from(events), max_size=8))
        events = draw(st.permutations(events + resent))
    return zone, events


PROPERTY = settings(max_examples=100, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(stream=streams())
def test_rollup_equals_the_reference(stream: tuple[str, list[dict[str, Any]]]) -> None:
    zone, events = stream

    assert as_dict(rollup(frame(events), zone, STEP_TYPES)) == reference(events, zone)


@PROPERTY
@given(stream=streams(), data=st.data())
def test_range_uniques_equal_the_set_of_visitors(
    stream: tuple[str, list[dict[str, Any]]], data: st.DataObject
) -> None:
    zone, events = stream
    rows = rollup(frame(events), zone, STEP_TYPES)
    days = sorted({row.day for row in rows}) or [dt.date(2026, 1, 1)]
    start = data.draw(st.sampled_from(days))
    end = data.draw(st.sampled_from([day for day in days if day >= start]))
    step = data.draw(st.sampled_from([None, "a", "b"]))
    tz = ZoneInfo(zone)

    visitors = {
        e["visitor_ordinal"] for e in events
        if e["type"] == "page_view" and start <= e["occurred_at"].astimezone(tz).date() <= end
        and (step is None or e["step_id"] == step)
    }

    assert unique_visitors(rows, start, end, step_id=step) == len(visitors)


# Several pandas passes per example: fewer examples keep the file under 10 s.
@settings(PROPERTY, max_examples=60)
@given(stream=streams(), data=st.data())
def test_chunked_runs_equal_one_pass(
    stream: tuple[str, list[dict[str, Any]]], data: st.DataObject
) -> None:
    zone, events = stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=5)))
    bounds = [0, *cuts, len(events)]
    chunks = [events[low:high] for low, high in itertools.pairwise(bounds)]
    # The last chunk again: a repeated run (or an overlapping one) changes nothing.
    chunks.append(chunks[-1])
    stored_events = frame([])
    stored_rows: list[StepDayRow] = []

    for chunk in chunks:
        new = frame(chunk)
        touched = touched_groups(new, stored_events, zone)
        if stored_events.empty or new.empty:  # an empty frame's columns have no dtype
            stored_events = new if stored_events.empty else stored_events
        else:
            stored_events = pd.concat([stored_events, new])
        needed = events_needed(stored_events, touched, zone)
        recomputed = rollup(needed, zone, STEP_TYPES, only=touched)
        stored_rows = replace_groups(stored_rows, recomputed, touched)

    assert as_dict(stored_rows) == as_dict(rollup(frame(events), zone, STEP_TYPES))


def test_the_bump_column_is_optional() -> None:
    without = frame(HAND).drop(columns="bump_count")

    rows = rollup(without, "Europe/Berlin", STEP_TYPES)

    assert sum(row.bump_purchases for row in rows) == 0
    assert sum(row.purchases for row in rows) == 2
