"""The reports' arithmetic: exact range uniques, rates over zero, buckets, drop-offs, money."""

from __future__ import annotations

import datetime as dt

from pyroaring import BitMap

from domain.analytics import report_math
from domain.analytics.rollup_rows import StepDayRow
from domain.shared.report_money import per_visitor, totals_by_currency

MON, TUE = dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def counts(step: str, day: dt.date, visitors: set[int], **values: int) -> StepDayRow:
    """A counts row."""
    return StepDayRow("f", step, day, "", visitors=BitMap(visitors), **values)


def money(step: str, day: dt.date, currency: str, cents: int) -> StepDayRow:
    """A currency row."""
    return StepDayRow("f", step, day, currency, revenue_cents=cents)


ROWS = [
    counts("a", MON, {1, 2}, views=3, optins=1, conversions=1),
    counts("a", TUE, {2, 3}, views=2, optins=1, conversions=1),
    counts(
        "b",
        TUE,
        {2},
        views=1,
        purchases=2,
        bump_purchases=1,
        upsells_accepted=1,
        upsells_declined=3,
        conversions=2,
    ),
    money("b", TUE, "EUR", 4700),
    money("b", TUE, "USD", 2500),
    money("b", MON, "EUR", 300),
]


def test_step_figures_take_uniques_as_a_union_and_rates_over_them() -> None:
    figures = report_math.figures([row for row in ROWS if row.step_id == "a"])

    assert figures["views"] == 5
    assert figures["unique_visitors"] == 3  # {1, 2} and {2, 3}: not 4
    assert figures["optin_rate"] == round(2 / 3, 4)
    assert figures["conversion_rate"] == round(2 / 3, 4)
    assert figures["bump_take_rate"] is None  # no purchase: not 0
    assert figures["revenue"] == []


def test_funnel_figures_convert_by_sales_and_keep_currencies_apart() -> None:
    figures = report_math.figures(ROWS, funnel=True)

    assert figures["unique_visitors"] == 3
    assert figures["conversions"] == 2  # the sales, not the steps' goals added up
    assert figures["conversion_rate"] == round(2 / 3, 4)
    assert figures["bump_take_rate"] == 0.5
    assert figures["upsell_take_rate"] == 0.25
    assert figures["revenue"] == [
        {"currency": "EUR", "revenue_cents": 5000, "earnings_per_click_cents": 1666.67},
        {"currency": "USD", "revenue_cents": 2500, "earnings_per_click_cents": 833.33},
    ]


def test_weeks_start_on_monday_and_the_range_clips_them() -> None:
    buckets = report_math.buckets(dt.date(2026, 3, 4), dt.date(2026, 3, 17), "week")

    assert buckets == [
        (dt.date(2026, 3, 4), dt.date(2026, 3, 8)),
        (dt.date(2026, 3, 9), dt.date(2026, 3, 15)),
        (dt.date(2026, 3, 16), dt.date(2026, 3, 17)),
    ]
    assert len(report_math.buckets(MON, TUE, "day")) == 2


def test_a_bucket_counts_only_its_days() -> None:
    bucket = report_math.bucket([row for row in ROWS if row.step_id == "b"], TUE, TUE)

    assert bucket["sales"] == 2
    assert [r["revenue_cents"] for r in bucket["revenue"]] == [4700, 2500]


def test_dropoffs_count_the_previous_steps_visitors_who_reached_the_next() -> None:
    out = report_math.dropoffs([BitMap({1, 2, 3, 4}), BitMap({2, 3, 9}), BitMap()])

    assert [step["from_previous"] for step in out] == [None, 2, 0]
    assert [step["conversion_rate"] for step in out] == [None, 0.5, 0.0]
    assert [step["dropoff_rate"] for step in out] == [None, 0.5, 1.0]
    assert [step["of_first_step"] for step in out] == [1.0, 0.75, 0.0]


def test_money_is_summed_per_currency_and_per_visitor() -> None:
    assert totals_by_currency([("USD", 5), ("EUR", 1), ("USD", 7)]) == {"EUR": 1, "USD": 12}
    assert per_visitor(1000, 3) == 333.33
    assert per_visitor(1000, 0) is None
