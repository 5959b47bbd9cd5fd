"""The reports' arithmetic, pure: stats rows in, figures out (docs/analytics.md, "Reports").

Counts add over rows; unique visitors never do: they are the size of the union of the rows'
visitor bitmaps. Money is per currency and totalled by domain.shared.report_money, the one
place orders analytics totals it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyroaring import BitMap

from domain.analytics.report_schemas import Interval
from domain.analytics.rollup_rows import COUNT_FIELDS, COUNTS_CURRENCY, StepDayRow, union_visitors
from domain.shared.report_money import per_visitor, totals_by_currency

_SUMMED = COUNT_FIELDS


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator to 4 places; None when the denominator is 0 ("no data" is not 0)."""
    return round(numerator / denominator, 4) if denominator else None


def revenue_of(amounts: Iterable[tuple[str, int]], visitors: int) -> list[dict[str, Any]]:
    """Revenue per currency with earnings per click (revenue per unique visitor)."""
    return [
        {
            "currency": code,
            "revenue_cents": cents,
            "earnings_per_click_cents": per_visitor(cents, visitors),
        }
        for code, cents in totals_by_currency(amounts).items()
    ]


def revenue(rows: Sequence[StepDayRow], visitors: int) -> list[dict[str, Any]]:
    """Revenue per currency of the rows, with earnings per click."""
    amounts = ((row.currency, row.revenue_cents) for row in rows if row.currency != COUNTS_CURRENCY)
    return revenue_of(amounts, visitors)


def sums(rows: Sequence[StepDayRow]) -> dict[str, int]:
    """Every count summed over the rows."""
    return {name: sum(getattr(row, name) for row in rows) for name in _SUMMED}


def add(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counts of several steps added up."""
    total = dict.fromkeys(_SUMMED, 0)
    for one in counts:
        for name in _SUMMED:
            total[name] += one.get(name, 0)
    return total


def figures(rows: Sequence[StepDayRow], *, funnel: bool = False) -> dict[str, Any]:
    """Overview figures of a step's rows, or of a whole funnel's (funnel=True)."""
    money = [(row.currency, row.revenue_cents) for row in rows if row.currency != COUNTS_CURRENCY]
    return figures_of(sums(rows), money, len(union_visitors(rows)), funnel=funnel)


def figures_of(
    counted: Mapping[str, int],
    money: Iterable[tuple[str, int]],
    visitors: int,
    *,
    funnel: bool = False,
) -> dict[str, Any]:
    """Overview figures from summed counts, revenue amounts and the exact unique visitors.

    A step converts by its goal (conversions / unique visitors); a funnel by its sales
    (purchases / unique visitors), since summing different steps' goals counts a buyer
    once per step.
    """
    counted = add([counted])
    conversions = counted["purchases"] if funnel else counted["conversions"]
    answered = counted["upsells_accepted"] + counted["upsells_declined"]
    return {
        "views": counted["views"],
        "unique_visitors": visitors,
        "entries": counted["entries"],
        "exits": counted["exits"],
        "optins": counted["optins"],
        "optin_rate": ratio(counted["optins"], visitors),
        "checkouts": counted["checkouts"],
        "sales": counted["purchases"],
        "bump_purchases": counted["bump_purchases"],
        "bump_take_rate": ratio(counted["bump_purchases"], counted["purchases"]),
        "upsells_accepted": counted["upsells_accepted"],
        "upsells_declined": counted["upsells_declined"],
        "upsell_take_rate": ratio(counted["upsells_accepted"], answered),
        "conversions": conversions,
        "conversion_rate": ratio(conversions, visitors),
        "revenue": revenue_of(money, visitors),
    }


def buckets(start: dt.date, end: dt.date, interval: Interval) -> list[tuple[dt.date, dt.date]]:
    """The range cut into days, or into ISO weeks (Monday first) clipped to the range."""
    out = []
    low = start
    while low <= end:
        high = low if interval == "day" else low + dt.timedelta(days=6 - low.weekday())
        high = min(high, end)
        out.append((low, high))
        low = high + dt.timedelta(days=1)
    return out


def bucket(rows: Sequence[StepDayRow], start: dt.date, end: dt.date) -> dict[str, Any]:
    """A step's figures for one bucket of days."""
    inside = [row for row in rows if start <= row.day <= end]
    counted = sums(inside)
    visitors = len(union_visitors(inside))
    return {
        "start": start,
        "end": end,
        "views": counted["views"],
        "unique_visitors": visitors,
        "entries": counted["entries"],
        "exits": counted["exits"],
        "optins": counted["optins"],
        "checkouts": counted["checkouts"],
        "sales": counted["purchases"],
        "conversions": counted["conversions"],
        "upsells_accepted": counted["upsells_accepted"],
        "revenue": revenue(inside, visitors),
    }


def dropoffs(visitors: Sequence[BitMap]) -> list[dict[str, Any]]:
    """Per step in funnel order: its visitors, how many of the previous step's visitors
    reached it (an exact intersection), conversion and drop-off rates."""
    out = []
    first = len(visitors[0]) if visitors else 0
    for index, current in enumerate(visitors):
        previous = visitors[index - 1] if index else None
        reached = previous.intersection_cardinality(current) if previous is not None else None
        rate = (
            ratio(reached, len(previous)) if previous is not None and reached is not None else None
        )
        out.append(
            {
                "unique_visitors": len(current),
                "from_previous": reached,
                "conversion_rate": rate,
                "dropoff_rate": round(1 - rate, 4) if rate is not None else None,
                "of_first_step": ratio(len(current), first),
            }
        )
    return out
