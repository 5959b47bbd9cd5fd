"""Monthly partitions: made ahead, rows already in the default partition moved, old months
dropped by retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from beat_schedule import BEAT_SCHEDULE
from domain.analytics import partitions, store
from domain.analytics.task_names import MAINTAIN_PARTITIONS
from domain.shared.db import unit_of_work, utcnow
from tests.support.drain import event, make_funnel, stored
from workers.tasks.analytics import maintain_partitions


def _store_at(account: Any, funnel: Any, event_id: str, when: datetime) -> None:
    with unit_of_work() as session:
        batch = [event(funnel, event_id, occurred_at=when)]
        assert store.store(session, [store.Entry.of(account, utcnow(), batch)]).inserted == 1


def _where(account: Any, event_id: str) -> str:
    """The partition holding an event of the account."""
    with unit_of_work() as session:
        return str(
            session.scalar(
                text(
                    "SELECT tableoid::regclass::text FROM analytics_events "
                    "WHERE account_id = :account AND event_id = :id"
                ),
                {"account": account, "id": event_id},
            )
        )


def test_beat_makes_this_month_and_the_next_two() -> None:
    assert BEAT_SCHEDULE["analytics-partitions"]["task"] == MAINTAIN_PARTITIONS
    result = maintain_partitions.apply()
    assert result.successful(), result.traceback
    with unit_of_work() as session:
        made = partitions.monthly_partitions(session)
    now = utcnow()
    for shift in range(3):
        assert partitions.partition_name(partitions.month_start(now, shift)) in made


def test_a_month_made_late_takes_its_rows_out_of_the_default_partition(tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    # Far ahead, so no other test made that month yet.
    month = partitions.month_start(utcnow(), 600)
    inside, edge = (
        month + timedelta(days=3),
        partitions.month_start(month, 1) - timedelta(microseconds=1),
    )
    _store_at(tenant.account_id, funnel, "late-inside", inside)
    _store_at(tenant.account_id, funnel, "late-edge", edge)
    _store_at(tenant.account_id, funnel, "next-month", partitions.month_start(month, 1))
    assert _where(tenant.account_id, "late-inside") == partitions.DEFAULT

    with unit_of_work() as session:
        assert partitions.create_month(session, month) == 2
    name = partitions.partition_name(month)
    assert _where(tenant.account_id, "late-inside") == name
    assert _where(tenant.account_id, "late-edge") == name
    assert _where(tenant.account_id, "next-month") == partitions.DEFAULT
    # New rows of that month go to it, and the unique key still holds across the move.
    _store_at(tenant.account_id, funnel, "after", inside)
    assert _where(tenant.account_id, "after") == name
    with unit_of_work() as session:
        again = [event(funnel, "late-inside", occurred_at=inside)]
        assert store.store(session, [store.Entry.of(tenant.account_id, utcnow(), again)]) == (
            store.Stored(duplicates=1)
        )
    assert stored(tenant.account_id)["late-inside"] == 1


def test_retention_drops_whole_months_past_the_setting(tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    old = datetime(1990, 3, 1, tzinfo=UTC)
    _store_at(tenant.account_id, funnel, "old-month", old + timedelta(days=10))
    _store_at(tenant.account_id, funnel, "ancient", datetime(1985, 1, 1, tzinfo=UTC))
    _store_at(tenant.account_id, funnel, "recent", utcnow())
    with unit_of_work() as session:
        partitions.create_month(session, old)

    with unit_of_work() as session:
        done = partitions.maintain(session, utcnow(), retention_months=13)

    assert partitions.partition_name(old) in done.dropped
    assert done.default_rows_deleted >= 1
    with unit_of_work() as session:
        assert partitions.partition_name(old) not in partitions.monthly_partitions(session)
    assert stored(tenant.account_id) == {"recent": 1}


def test_retention_keeps_the_current_month_and_the_months_of_the_setting() -> None:
    now = datetime(2026, 12, 15, tzinfo=UTC)
    assert partitions.retention_cutoff(now, 13) == datetime(2025, 11, 1, tzinfo=UTC)
    assert partitions.retention_cutoff(now, 1) == datetime(2026, 11, 1, tzinfo=UTC)
    assert partitions.month_start(datetime(2026, 12, 31, 23, tzinfo=UTC), 2) == datetime(
        2027, 2, 1, tzinfo=UTC
    )
