"""Monthly partitions of analytics_events: made ahead by beat, dropped past retention.

`analytics_events_YYYYMM` holds the events that occurred in that UTC month. A month without
its partition yet lands in `analytics_events_default`, so an insert never fails when beat
is late; making that month's partition later moves those rows into it in the same
transaction. Retention drops whole months (a DROP TABLE, no row-by-row DELETE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

PARENT = "analytics_events"
DEFAULT = "analytics_events_default"
# The current month and the next two always have their partition.
MONTHS_AHEAD = 2
_MONTHLY = re.compile(rf"^{PARENT}_(\d{{4}})(\d{{2}})$")


def month_start(day: date | datetime, shift: int = 0) -> datetime:
    """Midnight UTC of the first day of day's month, shifted by `shift` months."""
    index = day.year * 12 + day.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    """The partition of the month starting at `month`."""
    return f"{PARENT}_{month:%Y%m}"


def monthly_partitions(session: Session) -> dict[str, datetime]:
    """The monthly partitions attached now, by name, with their month's start."""
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    found = {}
    for name in names:
        if match := _MONTHLY.match(name):
            found[name] = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return found


def create_month(session: Session, month: datetime) -> int:
    """Make month's partition, moving its rows out of the default one; rows moved.

    The parent is locked against other partition changes (SHARE UPDATE EXCLUSIVE: inserts
    go on) and the default partition against writes while its rows move, so none can land
    there between the move and the ATTACH, whose check of the default then passes.
    """
    name, end = partition_name(month), month_start(month, 1)
    bounds = {"lo": month, "hi": end}
    session.execute(text(f"LOCK TABLE {PARENT} IN SHARE UPDATE EXCLUSIVE MODE"))
    session.execute(text(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE"))
    if name in monthly_partitions(session):
        return 0  # another run made it while we waited for the locks
    session.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
    # name is made from a date by partition_name, never from input.
    moved = session.execute(
        text(
            "WITH gone AS (DELETE FROM analytics_events_default "  # noqa: S608
            "WHERE occurred_at >= :lo AND occurred_at < :hi RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM gone"
        ),
        bounds,
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        text(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    return int(moved)


@dataclass(frozen=True)
class Maintenance:
    """What one run did: partitions made (rows moved into them), partitions dropped."""

    created: dict[str, int]
    dropped: list[str]
    default_rows_deleted: int


def retention_cutoff(now: datetime, months: int) -> datetime:
    """Events before this instant are past retention: the current month and the `months`
    before it are kept whole."""
    return month_start(now, -months)


def maintain(session: Session, now: datetime, *, retention_months: int) -> Maintenance:
    """Make this month's and the next MONTHS_AHEAD partitions; drop months past retention.

    One transaction, run under the caller's lock (the partition DDL locks the parent).
    """
    existing = monthly_partitions(session)
    created = {}
    for shift in range(MONTHS_AHEAD + 1):
        month = month_start(now, shift)
        if partition_name(month) not in existing:
            created[partition_name(month)] = create_month(session, month)
    cutoff = retention_cutoff(now, retention_months)
    dropped = sorted(name for name, start in existing.items() if month_start(start, 1) <= cutoff)
    for name in dropped:
        session.execute(text(f"DROP TABLE {name}"))
    # Late events of months that never had a partition wait in the default one.
    deleted = session.execute(
        text("DELETE FROM analytics_events_default WHERE occurred_at < :cutoff"),
        {"cutoff": cutoff},
    ).rowcount  # type: ignore[attr-defined]
    return Maintenance(created, dropped, int(deleted))
