"""The funnel reports (#44 overview, #45 steps, #46 dropoffs): stats rows only, never raw events.

Days are the account's zone's; every answer carries its zone, the zones its rows were
rolled in, and the rollup watermark (docs/analytics.md, "Reports").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pyroaring import BitMap
from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.analytics import report_math
from domain.analytics import stats_repository as repo
from domain.analytics.report_schemas import (
    Bucket,
    Dropoff,
    DropoffsOut,
    Figures,
    Freshness,
    Interval,
    OverviewOut,
    StepFigures,
    StepSeries,
    StepsOut,
)
from domain.analytics.rollup_rows import StepDayRow
from domain.funnels import service as funnels
from domain.funnels.models import FunnelStep
from domain.shared.db import utcnow
from domain.shared.errors import InvalidInput
from domain.shared.timezones import today

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Day arithmetic needs dates well inside Python's; the document states the same bounds.
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2199, 12, 31)
DAY_PATTERN = r"^(?:19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class Window:
    """What every report starts from: the funnel's steps, the range and its stats rows."""

    funnel_id: uuid.UUID
    steps: list[FunnelStep]
    start: dt.date
    end: dt.date
    rows: list[StepDayRow]
    freshness: Freshness

    def of_step(self, step_id: uuid.UUID) -> list[StepDayRow]:
        """The rows of one step."""
        return [row for row in self.rows if row.step_id == step_id]


def _invalid(field: str, msg: str) -> InvalidInput:
    """A 422 shaped like the request validation errors."""
    return InvalidInput(
        msg, code="validation_error", details=[{"loc": ["query", field], "msg": msg}]
    )


def date_range(
    date_from: dt.date | None, date_to: dt.date | None, zone: str, now: dt.datetime
) -> tuple[dt.date, dt.date]:
    """The range asked for: to defaults to today in the zone, from to 30 days ending at to."""
    for field, day in (("from", date_from), ("to", date_to)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise _invalid(field, f"must lie between {EARLIEST} and {LATEST}")
    end = date_to or today(zone, now)
    start = date_from or max(end - dt.timedelta(days=DEFAULT_DAYS - 1), EARLIEST)
    if end < start:
        raise _invalid("to", "to is before from")
    if (end - start).days + 1 > MAX_DAYS:
        raise _invalid("to", f"the range spans more than {MAX_DAYS} days")
    return start, end


def _window(
    session: Session,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> Window:
    """The funnel (404 for another account's), its steps, range, rows and freshness."""
    funnel = funnels.get(session, account_id=account_id, funnel_id=funnel_id)
    zone = accounts.settings_of(session, account_id).timezone
    now = utcnow()
    start, end = date_range(date_from, date_to, zone, now)
    read = repo.stat_rows(session, account_id, funnel_id, start, end)
    freshness = _freshness(session, zone, {zone_of for _, zone_of in read}, now)
    steps = funnels.steps(session, funnel)
    return Window(funnel.id, steps, start, end, [row for row, _ in read], freshness)


def _freshness(session: Session, zone: str, zones: set[str], now: dt.datetime) -> Freshness:
    """The zone, the zones the rows were rolled in, and the watermark with its age."""
    fresh = repo.freshness(session)
    return Freshness(
        time_zone=zone,
        rolled_in_zones=sorted(zones | {zone}),
        fresh_as_of=fresh,
        watermark_age_seconds=round((now - fresh).total_seconds(), 3) if fresh else None,
    )


def _step_fields(step: FunnelStep) -> dict[str, object]:
    """How a step names itself in every report."""
    return {
        "step_id": step.id,
        "name": step.name,
        "step_type": step.step_type,
        "position": step.position,
    }


def _head(
    session: Session,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> tuple[list[FunnelStep], dt.date, dt.date, repo.StepTotals, Freshness]:
    """The funnel's steps, the range, its per-step totals (summed in SQL) and freshness."""
    funnel = funnels.get(session, account_id=account_id, funnel_id=funnel_id)
    zone = accounts.settings_of(session, account_id).timezone
    now = utcnow()
    start, end = date_range(date_from, date_to, zone, now)
    totals = repo.step_totals(session, account_id, funnel_id, start, end)
    return (
        funnels.steps(session, funnel),
        start,
        end,
        totals,
        _freshness(session, zone, totals.zones, now),
    )


def overview(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> OverviewOut:
    """#44: the funnel's figures and each step's, over the range."""
    steps, start, end, totals, freshness = _head(
        session, account_id, funnel_id, date_from, date_to
    )
    empty = BitMap()
    funnel = report_math.figures_of(
        report_math.add(totals.counts.values()),
        [amount for amounts in totals.money.values() for amount in amounts],
        len(BitMap.union(empty, *totals.visitors.values())),
        funnel=True,
    )
    return OverviewOut(
        funnel_id=funnel_id,
        date_from=start,
        date_to=end,
        freshness=freshness,
        funnel=Figures.model_validate(funnel),
        steps=[
            StepFigures.model_validate(
                {
                    **report_math.figures_of(
                        totals.counts.get(step.id, {}),
                        totals.money.get(step.id, []),
                        len(totals.visitors.get(step.id, empty)),
                    ),
                    **_step_fields(step),
                }
            )
            for step in steps
        ],
    )


def steps_report(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    interval: Interval = "day",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> StepsOut:
    """#45: each step's figures per day or ISO week of the range, empty buckets included."""
    window = _window(session, account_id, funnel_id, date_from, date_to)
    cuts = report_math.buckets(window.start, window.end, interval)
    series = []
    for step in window.steps:
        rows = window.of_step(step.id)
        buckets = [Bucket.model_validate(report_math.bucket(rows, low, high)) for low, high in cuts]
        series.append(StepSeries.model_validate({**_step_fields(step), "buckets": buckets}))
    return StepsOut(
        funnel_id=window.funnel_id,
        date_from=window.start,
        date_to=window.end,
        interval=interval,
        freshness=window.freshness,
        steps=series,
    )


def dropoffs_report(
    session: Session,
    *,
    account_id: uuid.UUID,
    funnel_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> DropoffsOut:
    """#46: step-to-step conversion and drop-off in funnel order."""
    steps, start, end, totals, freshness = _head(
        session, account_id, funnel_id, date_from, date_to
    )
    figures = report_math.dropoffs([totals.visitors.get(step.id, BitMap()) for step in steps])
    return DropoffsOut(
        funnel_id=funnel_id,
        date_from=start,
        date_to=end,
        freshness=freshness,
        steps=[
            Dropoff.model_validate({**_step_fields(step), **values})
            for step, values in zip(steps, figures, strict=True)
        ],
    )
