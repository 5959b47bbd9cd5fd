"""Rows of the analytics rollup, and the arithmetic that reads them: exact uniques over a range.

One row per (funnel, step, local day, currency). The row with currency COUNTS_CURRENCY ("")
holds every count and the step's visitors; a row per real currency holds that currency's
revenue and nothing else, so any column summed over any set of rows is right (docs/analytics.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from pyroaring import BitMap

# Currency of the counts row: not NULL, so (funnel, step, day, currency) can be a primary key.
COUNTS_CURRENCY = ""

# The counts of a counts row: any of them summed over any set of rows is right.
COUNT_FIELDS = (
    "views",
    "entries",
    "exits",
    "optins",
    "checkouts",
    "purchases",
    "conversions",
    "upsells_accepted",
    "upsells_declined",
    "bump_purchases",
)

# (funnel_id, step_id, local day): the unit a run recomputes and replaces as a whole.
GroupKey = tuple[Hashable, Hashable, dt.date]


@dataclass(frozen=True)
class StepDayRow:
    """Stats of one step on one local day: counts (currency "") or one currency's revenue."""

    funnel_id: Hashable
    step_id: Hashable
    day: dt.date
    currency: str
    views: int = 0
    visitors: BitMap = field(default_factory=BitMap)
    entries: int = 0
    exits: int = 0
    optins: int = 0
    checkouts: int = 0
    purchases: int = 0
    conversions: int = 0
    upsells_accepted: int = 0
    upsells_declined: int = 0
    bump_purchases: int = 0
    revenue_cents: int = 0

    @property
    def group(self) -> GroupKey:
        """The (funnel, step, day) group this row belongs to."""
        return (self.funnel_id, self.step_id, self.day)

    @property
    def unique_visitors(self) -> int:
        """Distinct visitors who viewed the step that day (exact)."""
        return len(self.visitors)

    def visitors_bytes(self) -> bytes:
        """The visitor set in roaring's portable format, as the database will store it."""
        return bytes(self.visitors.serialize())


def visitors_from_bytes(data: bytes) -> BitMap:
    """A visitor set back from visitors_bytes()."""
    return BitMap.deserialize(data)


def union_visitors(rows: Iterable[StepDayRow]) -> BitMap:
    """The set of visitors over the rows: a union, so a visitor seen on two days counts once."""
    result = BitMap()
    for row in rows:
        result |= row.visitors
    return result


def unique_visitors(
    rows: Iterable[StepDayRow],
    start: dt.date,
    end: dt.date,
    funnel_id: Hashable | None = None,
    step_id: Hashable | None = None,
) -> int:
    """Exact unique visitors from start to end (both included), never a sum of daily uniques."""
    return len(
        union_visitors(
            row
            for row in rows
            if start <= row.day <= end
            and (funnel_id is None or row.funnel_id == funnel_id)
            and (step_id is None or row.step_id == step_id)
        )
    )

