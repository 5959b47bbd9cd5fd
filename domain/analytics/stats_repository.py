"""Every query of the rollup job: its cursor, the events a run needs, the stats it replaces.

Raw events move through COPY (pandas reads COPY's CSV several times faster than row
fetching); the groups and sessions a run works on go to temporary tables, so each read is
one join, whatever their number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from psycopg import sql
from pyroaring import BitMap
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.analytics.rollup import EVENT_TYPES
from domain.analytics.rollup_rows import COUNT_FIELDS, COUNTS_CURRENCY, StepDayRow
from domain.analytics.stats_models import (
    AnalyticsRollupCursor,
    AnalyticsRollupState,
    FunnelStepStat,
)

CURSOR = "rollup"
Position = tuple[int, int]

# An event the rollup counts: a step stat type, with a step, a currency for money and an
# ordinal a 32-bit bitmap holds. Exposures (split tests) and step-less events are not step
# stats; among the rest an event_id counts once, its copy stored first (lowest seq).
_TYPES = ", ".join(f"'{name}'" for name in EVENT_TYPES)
ROLLABLE = (
    "{e}.type IN (" + _TYPES + ") AND {e}.step_id IS NOT NULL"
    " AND {e}.visitor_ordinal BETWEEN 0 AND 4294967295"
    " AND ({e}.type NOT IN ('purchase', 'upsell_accepted') OR {e}.currency IS NOT NULL)"
)
FIRST_COPY = (
    "NOT EXISTS (SELECT 1 FROM analytics_events d WHERE d.account_id = {e}.account_id"  # noqa: S608 - constant text
    " AND d.event_id = {e}.event_id AND d.seq < {e}.seq AND " + ROLLABLE.format(e="d") + ")"
)
# The columns pure rollup() takes, read as text by COPY; occurred_at as epoch microseconds.
_EVENT_SELECT = (
    "SELECT {e}.seq, {e}.event_id, {e}.visitor_ordinal, {e}.session_id, {e}.funnel_id,"
    " {e}.step_id, {e}.type, (extract(epoch FROM {e}.occurred_at) * 1000000)::bigint,"
    " coalesce({e}.amount_cents, 0), {e}.currency,"
    " CASE WHEN jsonb_typeof({e}.properties -> 'bump_count') = 'number'"
    " THEN ((({e}.properties ->> 'bump_count')::numeric) > 0)::int ELSE 0 END"
)
_FRAME_COLUMNS = [
    "seq",
    "event_id",
    "visitor_ordinal",
    "session_id",
    "funnel_id",
    "step_id",
    "type",
    "occurred_us",
    "amount_cents",
    "currency",
    "bump_count",
]
_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS rollup_groups"
    " (funnel_id uuid, step_id uuid, day date, lo timestamptz, hi timestamptz) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS rollup_sessions"
    " (funnel_id uuid, session_id text) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS rollup_ids (event_id text) ON COMMIT DROP",
)
STAT_COLUMNS = [
    "account_id",
    "funnel_id",
    "step_id",
    "day",
    "currency",
    "views",
    "unique_visitors",
    "visitors",
    "entries",
    "exits",
    "optins",
    "checkouts",
    "purchases",
    "conversions",
    "upsells_accepted",
    "upsells_declined",
    "bump_purchases",
    "revenue_cents",
    "zone",
    "rolled_at",
]


def _driver(session: Session) -> Any:
    """The psycopg connection under the session's transaction."""
    return session.connection().connection.driver_connection


def _copy_out(session: Session, query: sql.Composable) -> bytes:
    """COPY (query) TO STDOUT as CSV."""
    buffer = io.BytesIO()
    with _driver(session).cursor() as cursor:
        copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(query)
        with cursor.copy(copy_sql) as copy:
            for chunk in copy:
                buffer.write(chunk)
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    """A value as COPY's CSV takes it: bytea as hex, NULL as an unquoted empty field."""
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return "" if value is None else value


def _copy_in(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    not_null: Sequence[str] = (),
) -> None:
    """COPY rows into table as one CSV payload (row by row, psycopg waits on every row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    names = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    options: sql.Composable = sql.SQL("FORMAT csv")
    if not_null:  # an empty field of these columns is "", not NULL (the counts row's currency)
        forced = sql.SQL(", ").join(sql.Identifier(name) for name in not_null)
        options = sql.SQL("FORMAT csv, FORCE_NOT_NULL ({})").format(forced)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
        sql.Identifier(table), names, options
    )
    with _driver(session).cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())
    if table.startswith("rollup_"):
        # Temporary tables get no statistics from autovacuum: without them the planner
        # joins them to the events by nested loops.
        with _driver(session).cursor() as cursor:
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _frame(data: bytes) -> pd.DataFrame:
    """Events from COPY's CSV, as pure rollup() takes them (ids as text, times in UTC)."""
    if not data:
        return pd.DataFrame(columns=[*_FRAME_COLUMNS[:7], "occurred_at", *_FRAME_COLUMNS[8:]])
    frame = pd.read_csv(
        io.BytesIO(data),
        names=_FRAME_COLUMNS,
        dtype={
            "event_id": str,
            "session_id": str,
            "funnel_id": str,
            "step_id": str,
            "type": str,
            "currency": object,
        },
        keep_default_na=False,
        na_values={"currency": [""]},
    )
    frame["occurred_at"] = pd.to_datetime(frame.pop("occurred_us"), unit="us", utc=True)
    frame["currency"] = frame["currency"].astype(object).where(frame["currency"].notna(), None)
    return frame


def _events(
    session: Session, tail: str, account_id: uuid.UUID, *, first_copy: bool
) -> pd.DataFrame:
    """Rollable events of the account from analytics_events e plus a join/where tail."""
    parts = [
        _EVENT_SELECT.format(e="e"),
        " FROM analytics_events e ",
        tail,
        " AND e.account_id = {account} AND ",
        ROLLABLE.format(e="e"),
    ]
    if first_copy:
        parts += [" AND ", FIRST_COPY.format(e="e")]
    parts.append(" ORDER BY e.seq")
    query = sql.SQL("".join(parts)).format(account=sql.Literal(str(account_id)))
    return _frame(_copy_out(session, query))


# --- the cursor


def cursor(session: Session, now: dt.datetime) -> AnalyticsRollupCursor:
    """The job's cursor row, created at the start of the table."""
    row = session.get(AnalyticsRollupCursor, CURSOR, populate_existing=True)
    if row is None:
        row = AnalyticsRollupCursor(name=CURSOR, last_tx_id=0, last_seq=0, updated_at=now)
        session.add(row)
        session.flush()
    return row


def read_new(session: Session, after: Position, limit: int) -> tuple[pd.DataFrame, int]:
    """Keys of up to limit events committed after `after`, in (tx_id, seq) order, from
    finished transactions only; and the xmin bound they were read under."""
    bound = int(session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")) or 0)
    rows = session.execute(
        text(
            "SELECT account_id, funnel_id, session_id, event_id, tx_id::text::bigint, seq,"  # noqa: S608 - constant text, values bound
            " " + ROLLABLE.format(e="e") + " AS rollable"
            " FROM analytics_events e"
            " WHERE (tx_id, seq) > (CAST(:tx AS text)::xid8, :seq)"
            " AND tx_id < CAST(:bound AS text)::xid8"
            " ORDER BY tx_id, seq LIMIT :limit"
        ),
        {"tx": str(after[0]), "seq": after[1], "bound": str(bound), "limit": limit},
    ).all()
    columns = ["account_id", "funnel_id", "session_id", "event_id", "tx_id", "seq", "rollable"]
    return pd.DataFrame(rows, columns=columns), bound


def advance(
    session: Session, row: AnalyticsRollupCursor, to: Position, now: dt.datetime, fresh: bool
) -> None:
    """Move the cursor; fresh: the run caught up, so the stats are complete as of now."""
    row.last_tx_id, row.last_seq = to
    row.updated_at = now
    if fresh:
        row.fresh_as_of = now
    session.flush()


def freshness(session: Session) -> dt.datetime | None:
    """When the job last caught up (None: it never has)."""
    fresh: dt.datetime | None = session.scalar(
        select(AnalyticsRollupCursor.fresh_as_of).where(AnalyticsRollupCursor.name == CURSOR)
    )
    return fresh


# --- zones


def zones(session: Session) -> dict[uuid.UUID, str]:
    """The zone each account's stats are rolled in now."""
    stmt = select(AnalyticsRollupState.account_id, AnalyticsRollupState.zone)
    return {account_id: zone for account_id, zone in session.execute(stmt)}


def set_zone(session: Session, account_id: uuid.UUID, zone: str, now: dt.datetime) -> None:
    """Record the zone an account's stats are rolled in from now on."""
    state = session.get(AnalyticsRollupState, account_id)
    if state is None:
        session.add(AnalyticsRollupState(account_id=account_id, zone=zone, zone_since=now))
    else:
        state.zone, state.zone_since = zone, now
    session.flush()


# --- what a run reads


def prepare_temp_tables(session: Session) -> None:
    """Empty temporary tables for one account's run (dropped at commit)."""
    for statement in _TEMP_TABLES:
        session.execute(text(statement))
    session.execute(text("TRUNCATE rollup_groups, rollup_sessions, rollup_ids"))


def session_events(
    session: Session, account_id: uuid.UUID, sessions: pd.DataFrame, event_ids: Iterable[str]
) -> pd.DataFrame:
    """Every rollable event of the given (funnel, session) pairs, and of the sessions of the
    other copies of the given event ids (a copy stored earlier decides which one counts)."""
    _copy_in(
        session,
        "rollup_sessions",
        ["funnel_id", "session_id"],
        sessions[["funnel_id", "session_id"]].itertuples(index=False, name=None),
    )
    _copy_in(session, "rollup_ids", ["event_id"], ((event_id,) for event_id in event_ids))
    session.execute(
        text(
            "INSERT INTO rollup_sessions SELECT DISTINCT e.funnel_id, e.session_id"
            " FROM analytics_events e JOIN rollup_ids i USING (event_id)"
            " WHERE e.account_id = :account"
        ),
        {"account": account_id},
    )
    tail = (
        "JOIN (SELECT DISTINCT funnel_id, session_id FROM rollup_sessions) s"
        " USING (funnel_id, session_id) WHERE true"
    )
    return _events(session, tail, account_id, first_copy=False)


Group = tuple[Any, Any, dt.date, dt.datetime, dt.datetime]
"""(funnel_id, step_id, local day, its first instant, the next day's first instant)."""


def group_events(session: Session, account_id: uuid.UUID, groups: Iterable[Group]) -> pd.DataFrame:
    """Every counted event of the groups (funnel, step, [lo, hi)) and of the sessions seen
    in them: what recomputing the groups whole needs."""
    _copy_in(session, "rollup_groups", ["funnel_id", "step_id", "day", "lo", "hi"], groups)
    session.execute(text("TRUNCATE rollup_sessions"))
    session.execute(
        text(
            "INSERT INTO rollup_sessions SELECT DISTINCT e.funnel_id, e.session_id"  # noqa: S608 - constant text, values bound
            " FROM analytics_events e JOIN rollup_groups g ON e.funnel_id = g.funnel_id"
            " AND e.step_id = g.step_id AND e.occurred_at >= g.lo AND e.occurred_at < g.hi"
            " WHERE e.account_id = :account AND " + ROLLABLE.format(e="e")
        ),
        {"account": account_id},
    )
    tail = (
        "JOIN (SELECT DISTINCT funnel_id, session_id FROM rollup_sessions) s"
        " USING (funnel_id, session_id) WHERE true"
    )
    return _events(session, tail, account_id, first_copy=True)


def account_events(session: Session, account_id: uuid.UUID) -> pd.DataFrame:
    """Every counted event of the account (a first roll, or a re-roll in a new zone)."""
    return _events(session, "WHERE true", account_id, first_copy=True)


def first_event_at(session: Session, account_id: uuid.UUID) -> dt.datetime | None:
    """When the account's oldest retained event occurred."""
    first: dt.datetime | None = session.scalar(
        text("SELECT min(occurred_at) FROM analytics_events WHERE account_id = :account"),
        {"account": account_id},
    )
    return first


def has_stats(session: Session, account_id: uuid.UUID) -> bool:
    """Whether the account has any stats row."""
    return bool(
        session.scalar(
            text("SELECT EXISTS (SELECT 1 FROM funnel_step_stats WHERE account_id = :account)"),
            {"account": account_id},
        )
    )


# --- what a run writes


def delete_groups(session: Session, account_id: uuid.UUID) -> None:
    """Delete the rows (counts and currencies) of the groups in rollup_groups."""
    session.execute(
        text(
            "DELETE FROM funnel_step_stats s USING rollup_groups g"
            " WHERE s.account_id = :account AND s.funnel_id = g.funnel_id"
            " AND s.step_id = g.step_id AND s.day = g.day"
        ),
        {"account": account_id},
    )


def delete_from_day(session: Session, account_id: uuid.UUID, day: dt.date | None) -> None:
    """Delete the account's rows of day and later (None: every row)."""
    where = "account_id = :account" + (" AND day >= :day" if day is not None else "")
    session.execute(
        text(f"DELETE FROM funnel_step_stats WHERE {where}"),  # noqa: S608
        {"account": account_id, "day": day},
    )


def insert_rows(
    session: Session, account_id: uuid.UUID, rows: Iterable[StepDayRow], zone: str, now: dt.datetime
) -> int:
    """COPY the rows in, rolled in zone."""
    count = 0

    def values() -> Iterable[tuple[Any, ...]]:
        nonlocal count
        for row in rows:
            count += 1
            counts_row = row.currency == ""
            yield (
                account_id,
                row.funnel_id,
                row.step_id,
                row.day,
                row.currency,
                row.views,
                row.unique_visitors,
                row.visitors_bytes() if counts_row else None,
                row.entries,
                row.exits,
                row.optins,
                row.checkouts,
                row.purchases,
                row.conversions,
                row.upsells_accepted,
                row.upsells_declined,
                row.bump_purchases,
                row.revenue_cents,
                zone,
                now,
            )

    _copy_in(session, "funnel_step_stats", STAT_COLUMNS, values(), not_null=["currency"])
    return count


# --- what the reports read


def stat_rows(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, start: dt.date, end: dt.date
) -> list[tuple[StepDayRow, str]]:
    """The funnel's stats rows of the days start..end, each with the zone it was rolled in."""
    stat = FunnelStepStat
    result = session.execute(
        select(
            stat.step_id,
            stat.day,
            stat.currency,
            stat.views,
            stat.visitors,
            stat.entries,
            stat.exits,
            stat.optins,
            stat.checkouts,
            stat.purchases,
            stat.conversions,
            stat.upsells_accepted,
            stat.upsells_declined,
            stat.bump_purchases,
            stat.revenue_cents,
            stat.zone,
        ).where(
            stat.account_id == account_id,
            stat.funnel_id == funnel_id,
            stat.day >= start,
            stat.day <= end,
        )
    )
    rows = []
    for (
        step_id,
        day,
        currency,
        views,
        visitors,
        entries,
        exits,
        optins,
        checkouts,
        purchases,
        conversions,
        accepted,
        declined,
        bumps,
        cents,
        zone,
    ) in result:
        rows.append(
            (
                StepDayRow(
                    funnel_id=funnel_id,
                    step_id=step_id,
                    day=day,
                    currency=currency,
                    views=views,
                    visitors=BitMap.deserialize(visitors) if visitors else BitMap(),
                    entries=entries,
                    exits=exits,
                    optins=optins,
                    checkouts=checkouts,
                    purchases=purchases,
                    conversions=conversions,
                    upsells_accepted=accepted,
                    upsells_declined=declined,
                    bump_purchases=bumps,
                    revenue_cents=cents,
                ),
                zone,
            )
        )
    return rows


_SUMS = (*COUNT_FIELDS, "revenue_cents")


@dataclass
class StepTotals:
    """A range's stats of a funnel per step: summed counts, revenue per currency, visitors."""

    counts: dict[uuid.UUID, dict[str, int]]
    money: dict[uuid.UUID, list[tuple[str, int]]]
    visitors: dict[uuid.UUID, BitMap]
    zones: set[str]


def step_totals(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, start: dt.date, end: dt.date
) -> StepTotals:
    """Per step, the range's counts summed in SQL and its visitors as one union each."""
    params = {"account": account_id, "funnel": funnel_id, "start": start, "end": end}
    scope = (
        " FROM funnel_step_stats WHERE account_id = :account AND funnel_id = :funnel"
        " AND day BETWEEN :start AND :end"
    )
    sums = ", ".join(f"sum({name})::bigint" for name in _SUMS)
    totals = StepTotals({}, {}, {}, set())
    grouped = text(
        f"SELECT step_id, currency, {sums}, array_agg(DISTINCT zone){scope}"
        " GROUP BY step_id, currency"
    )
    for step_id, currency, *values, zones in session.execute(grouped, params):
        totals.zones.update(zones)
        if currency == COUNTS_CURRENCY:
            totals.counts[step_id] = dict(zip(_SUMS[:-1], values[:-1], strict=True))
        else:
            totals.money.setdefault(step_id, []).append((currency, values[-1]))
    sets: dict[uuid.UUID, list[BitMap]] = {}
    bitmaps = text(f"SELECT step_id, visitors{scope} AND visitors IS NOT NULL")
    for step_id, data in session.execute(bitmaps, params):
        sets.setdefault(step_id, []).append(BitMap.deserialize(data))
    totals.visitors = {step_id: BitMap.union(*maps) for step_id, maps in sets.items()}
    return totals
