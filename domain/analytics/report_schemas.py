"""Output models of the funnel reports (#44 overview, #45 steps, #46 dropoffs)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

Interval = Literal["day", "week"]


class Freshness(BaseModel):
    """In which zone the days are, and how fresh the stats are."""

    time_zone: str = Field(description="the account's IANA zone: the range's days are its days")
    rolled_in_zones: list[str] = Field(
        description="every zone the range's stats were rolled in; more than time_zone when "
        "older days kept the zone they were rolled in before a zone change"
    )
    fresh_as_of: dt.datetime | None = Field(
        description="the rollup watermark: events committed by then are counted (null: the "
        "rollup has not run yet)"
    )
    watermark_age_seconds: float | None


class Revenue(BaseModel):
    """One currency's gross revenue and earnings per click."""

    currency: str
    revenue_cents: int
    earnings_per_click_cents: float | None = Field(
        description="revenue per unique visitor, in cents (null: no visitor)"
    )


class Figures(BaseModel):
    """Figures of a funnel or a step over a range."""

    views: int
    unique_visitors: int = Field(description="exact: the size of the union of daily visitors")
    entries: int
    exits: int
    optins: int
    optin_rate: float | None = Field(description="opt-ins / unique visitors")
    checkouts: int
    sales: int = Field(description="purchases")
    bump_purchases: int
    bump_take_rate: float | None = Field(description="purchases with an order bump / purchases")
    upsells_accepted: int
    upsells_declined: int
    upsell_take_rate: float | None = Field(description="accepted / (accepted + declined)")
    conversions: int
    conversion_rate: float | None
    revenue: list[Revenue]


class StepFigures(Figures):
    """A step's figures."""

    step_id: uuid.UUID
    name: str
    step_type: str
    position: int


class OverviewOut(BaseModel):
    """#44: the funnel's and each step's figures over a range of local days."""

    funnel_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    freshness: Freshness
    funnel: Figures
    steps: list[StepFigures]


class Bucket(BaseModel):
    """One day or week of a step."""

    start: dt.date
    end: dt.date
    views: int
    unique_visitors: int
    entries: int
    exits: int
    optins: int
    checkouts: int
    sales: int
    conversions: int
    upsells_accepted: int
    revenue: list[Revenue]


class StepSeries(BaseModel):
    """A step's buckets, every one of the range present."""

    step_id: uuid.UUID
    name: str
    step_type: str
    position: int
    buckets: list[Bucket]


class StepsOut(BaseModel):
    """#45: per-step series by day or ISO week (Monday first; the range's edges clip)."""

    funnel_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    interval: Interval
    freshness: Freshness
    steps: list[StepSeries]


class Dropoff(BaseModel):
    """A step in funnel order, and how many of the previous step's visitors reached it."""

    step_id: uuid.UUID
    name: str
    step_type: str
    position: int
    unique_visitors: int
    from_previous: int | None = Field(
        description="visitors of the previous step who also viewed this one (exact)"
    )
    conversion_rate: float | None = Field(description="from_previous / previous step's visitors")
    dropoff_rate: float | None = Field(description="1 - conversion_rate")
    of_first_step: float | None = Field(description="visitors / the first step's visitors")


class DropoffsOut(BaseModel):
    """#46: step-to-step conversion and drop-off in funnel order."""

    funnel_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    freshness: Freshness
    steps: list[Dropoff]
