"""The rollup job on real PostgreSQL: after every run, funnel_step_stats equals a from-scratch
SQL recomputation over the raw table, whatever the stream (resent and re-timed events, late
events, zone edges, zone changes) and wherever runs and batches cut it; a transaction that
commits after a later one is never skipped; overlapping runs wait their turn."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.analytics import rollup_job
from domain.shared.db import get_sessionmaker, unit_of_work
from tests.support.rollup_data import (
    Shop,
    insert_events,
    make_shop,
    recomputed,
    set_zone,
    stored,
)
from workers.tasks.analytics_rollup import run

UTC = dt.UTC
TYPES = [
    "page_view",
    "optin",
    "checkout_started",
    "purchase",
    "upsell_accepted",
    "upsell_declined",
    "conversion",
    "exposure",
]
# Each zone with an instant near one of its DST transitions (or a midnight for fixed ones).
ZONE_ANCHORS = {
    "Europe/Berlin": dt.datetime(2026, 3, 29, 1, tzinfo=UTC),
    "America/Santiago": dt.datetime(2026, 9, 6, 4, tzinfo=UTC),
    "Australia/Lord_Howe": dt.datetime(2026, 4, 4, 15, tzinfo=UTC),
    "Asia/Kathmandu": dt.datetime(2026, 6, 1, 18, 15, tzinfo=UTC),
    "UTC": dt.datetime(2026, 1, 1, tzinfo=UTC),
}
OTHER_FUNNEL = str(uuid.UUID(int=7))
UNKNOWN_STEP = str(uuid.UUID(int=8))


def check(shop: Shop) -> None:
    """The job's rows equal the SQL recomputation in the account's current zone."""
    with unit_of_work() as session:
        zone = session.scalar(
            text("SELECT timezone FROM accounts WHERE id = :id"), {"id": shop.account_id}
        )
        rows, zones = stored(session, shop.account_id)
        expected = recomputed(session, shop.account_id, zone)
    differing = {key for key in rows.keys() | expected.keys() if rows.get(key) != expected.get(key)}
    assert not differing, "\n".join(
        f"{key}: stored {rows.get(key)} != recomputed {expected.get(key)}" for key in differing
    )
    assert zones <= {zone}


@st.composite
def streams(draw: st.DrawFn, shop: Shop) -> tuple[str, list[list[dict[str, Any]]], int]:
    """A zone, events in chunks (one commit and run each), and a batch size."""
    zone = draw(st.sampled_from(sorted(ZONE_ANCHORS)))
    anchor = ZONE_ANCHORS[zone]
    steps = [*shop.steps.values(), UNKNOWN_STEP, None]
    events: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from([*TYPES, *["page_view"] * 5]))
        session = draw(st.integers(0, 5))
        money = kind in ("purchase", "upsell_accepted")
        events.append(
            {
                "event_id": f"e{index}",
                "type": kind,
                "session_id": f"s{session}",
                "visitor_ordinal": session % 3,
                "funnel_id": draw(st.sampled_from([shop.funnel_id, OTHER_FUNNEL])),
                "step_id": draw(st.sampled_from(steps)),
                "occurred_at": anchor
                + dt.timedelta(
                    minutes=30 * draw(st.one_of(st.integers(-72, 72), st.sampled_from([-1, 0, 1])))
                ),
                "amount_cents": draw(st.integers(0, 10_000)) if money else None,
                "currency": draw(st.sampled_from(["EUR", "USD"])) if money else None,
                "bump_count": draw(st.integers(0, 2)) if kind == "purchase" else 0,
            }
        )
    # Resent copies: the same event again (stored once), or re-timed (a second row).
    for copy in draw(st.lists(st.sampled_from(events), max_size=6)):
        shift = draw(st.sampled_from([0, 0, 30, -24 * 60]))
        events.append({**copy, "occurred_at": copy["occurred_at"] + dt.timedelta(minutes=shift)})
    events = draw(st.permutations(events))  # late events: arrival order is not event order
    cuts = sorted(draw(st.lists(st.integers(0, len(events)), max_size=4)))
    bounds = [0, *cuts, len(events)]
    chunks = [events[low:high] for low, high in itertools.pairwise(bounds)]
    return zone, chunks, draw(st.integers(1, 12))


SHOP: dict[str, Shop] = {}


def shop() -> Shop:
    """One account for every example (each starts from an empty table for it)."""
    if "shop" not in SHOP:
        SHOP["shop"] = make_shop()
    return SHOP["shop"]


def wipe(account_id: uuid.UUID) -> None:
    """Forget the account's raw events and stats (the next example starts clean)."""
    run()  # whatever earlier tests left is rolled first
    with unit_of_work() as session:
        for table in ("analytics_events", "funnel_step_stats", "analytics_visitors"):
            session.execute(
                text(f"DELETE FROM {table} WHERE account_id = :id"),  # noqa: S608
                {"id": account_id},
            )


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # No shrinking: each example commits and runs the job, so shrinking a failure takes
    # minutes; the failing example is printed whole.
    phases=[Phase.explicit, Phase.generate],
)
@given(data=st.data())
def test_every_run_equals_a_recomputation_from_scratch(data: st.DataObject) -> None:
    current = shop()
    zone, chunks, batch_size = data.draw(streams(current))
    wipe(current.account_id)
    set_zone(current.account_id, zone)
    change_at = data.draw(st.integers(0, len(chunks)))
    for index, chunk in enumerate(chunks):
        if index == change_at:  # a zone change re-rolls everything retained
            set_zone(current.account_id, data.draw(st.sampled_from(sorted(ZONE_ANCHORS))))
        with unit_of_work() as session:
            insert_events(session, current.account_id, chunk)
        run(batch_size=batch_size, max_batches=10_000)
        check(current)
    run(batch_size=batch_size)  # a repeated run changes nothing
    check(current)


def _view(
    shop: Shop, event_id: str, at: dt.datetime, step: str = "optin", visitor: int = 1
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "page_view",
        "session_id": "s",
        "visitor_ordinal": visitor,
        "funnel_id": shop.funnel_id,
        "step_id": shop.steps[step],
        "occurred_at": at,
    }


def test_an_insert_committing_after_a_later_one_is_not_skipped() -> None:
    current = make_shop()
    at = dt.datetime(2026, 5, 1, 12, tzinfo=UTC)
    early = get_sessionmaker()()
    try:
        insert_events(early, current.account_id, [_view(current, "early", at)])  # xid first
        with unit_of_work() as session:
            insert_events(
                session,
                current.account_id,
                [_view(current, "late", at + dt.timedelta(hours=1), "order_form", visitor=2)],
            )
        run()
        with unit_of_work() as session:
            rows, _ = stored(session, current.account_id)
        # The early transaction is still open: nothing at or past its id was read yet.
        assert rows == {}
        early.commit()
    finally:
        early.close()
    run()
    check(current)
    with unit_of_work() as session:
        rows, _ = stored(session, current.account_id)
    assert sum(values[0] for values in rows.values()) == 2


def test_an_overlapping_run_finds_the_lock_taken() -> None:
    first = get_sessionmaker()()
    try:
        assert rollup_job.run_batch(first, batch_size=10).status != "busy"
        with unit_of_work() as session:
            assert rollup_job.run_batch(session, batch_size=10).status == "busy"
    finally:
        first.rollback()
        first.close()


def test_a_zone_change_keeps_days_before_the_retained_events_in_their_zone() -> None:
    current = make_shop("UTC")
    at = dt.datetime(2026, 5, 1, 23, 30, tzinfo=UTC)
    with unit_of_work() as session:
        insert_events(session, current.account_id, [_view(current, "a", at)])
    run()
    # Retention dropped the raw event of 1 May; its day stays, rolled in UTC.
    with unit_of_work() as session:
        session.execute(
            text("DELETE FROM analytics_events WHERE account_id = :id"), {"id": current.account_id}
        )
        insert_events(session, current.account_id, [_view(current, "b", at + dt.timedelta(days=3))])
    set_zone(current.account_id, "Asia/Tokyo")
    run()
    with unit_of_work() as session:
        result = session.execute(
            text("SELECT day, zone FROM funnel_step_stats WHERE account_id = :id"),
            {"id": current.account_id},
        )
        zones = {day: zone for day, zone in result}
    assert zones == {dt.date(2026, 5, 1): "UTC", dt.date(2026, 5, 5): "Asia/Tokyo"}


def test_beat_runs_the_task_every_interval() -> None:
    from beat_schedule import BEAT_SCHEDULE
    from domain.shared.settings import get_settings
    from workers.celery_app import celery_app
    from workers.tasks.analytics_rollup import rollup

    entries = [e for e in BEAT_SCHEDULE.values() if e["task"] == rollup_job.ROLLUP_TASK]

    assert [e["schedule"] for e in entries] == [get_settings().analytics_rollup_interval_seconds]
    assert rollup_job.ROLLUP_TASK in celery_app.tasks
    assert rollup()["busy"] == 0  # the task body: a run that caught up
