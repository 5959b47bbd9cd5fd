"""Order analytics by day: revenue, orders, AOV, bump and upsell take rates, refunds.

Definitions (days are calendar days of the account's time zone, as in the funnel reports; a
range is inclusive at both ends):

- orders: orders paid that day (paid_at), whatever became of them since (refunded,
  fulfilled); bump_orders: those of them holding at least one order bump.
- gross_revenue_cents: captured cents of succeeded charges: a main charge on its order's
  paid day, an upsell charge on the day it was made (the buyer's click; capture follows
  within seconds). upsell_revenue_cents is the upsell part of it. The range's total per
  currency is domain.shared.report_money's, the funnel overview's too: the two agree.
- refunds / refunded_cents: succeeded refunds, on the day they were asked for.
- disputes_lost / disputes_lost_cents: disputes closed as lost that day (Stripe took the
  disputed amount back for good); won or open disputes are not counted.
- net_revenue_cents: gross minus refunded minus disputes lost (negative on a day of refunds
  or lost disputes and no sales).
- aov_cents: gross / orders, to the nearest cent (upsells raise it, as buyers of funnels
  expect); bump_take_rate: bump_orders / orders; upsell_take_rate: accepted / answered
  one-click offers (upsells and downsells) on the day they were answered. A ratio whose
  denominator is 0 is null, not 0: "no orders" is not "no bumps taken".
- Money of different currencies is never added up: there is one series per currency, for
  the `currency` asked for (always present, zero-filled) or else for every currency with
  any activity in the range (sorted; none at all: an empty list).

SQL aggregates per (currency, day) within the account and range, so what is read stays
small whatever the volume; pandas joins the sources, zero-fills every day and derives.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Date, Select, cast, exists, func, select
from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.funnels import service as funnels
from domain.orders.models import Dispute, Order, OrderBump, OrderCharge, OrderUpsell, Refund
from domain.shared.db import utcnow
from domain.shared.errors import InvalidInput
from domain.shared.report_money import totals_by_currency
from domain.shared.timezones import day_start, today

DEFAULT_DAYS = 30
MAX_DAYS = 366
# pandas' date_range and the arithmetic of day bounds need dates well inside these.
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2199, 12, 31)
# The same bounds as the document can state them: a day of the years 1970 to 2199.
DAY_PATTERN = r"^(?:19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"


class Figures(BaseModel):
    """What one currency's orders came to over a day or the whole range."""

    orders: int
    bump_orders: int
    bump_take_rate: float | None
    gross_revenue_cents: int
    upsell_revenue_cents: int
    refunds: int
    refunded_cents: int
    disputes_lost: int
    disputes_lost_cents: int
    net_revenue_cents: int
    aov_cents: int | None
    upsells_offered: int
    upsells_accepted: int
    upsell_take_rate: float | None


class DayFigures(Figures):
    """The figures of one day of the account's zone."""

    date: dt.date


class CurrencySeries(BaseModel):
    """One currency's totals and its every day of the range."""

    currency: str
    totals: Figures
    days: list[DayFigures]


class OrderAnalyticsOut(BaseModel):
    """Order analytics of a date range, one series per currency."""

    date_from: dt.date
    date_to: dt.date
    funnel_id: uuid.UUID | None
    currency: str | None
    time_zone: str
    currencies: list[CurrencySeries]


def _invalid(field: str, msg: str) -> InvalidInput:
    """A 422 shaped like the request validation errors."""
    return InvalidInput(
        msg, code="validation_error", details=[{"loc": ["query", field], "msg": msg}]
    )


def date_range(
    date_from: dt.date | None, date_to: dt.date | None, zone: str = "UTC"
) -> tuple[dt.date, dt.date]:
    """The range asked for: to defaults to today in the zone, from to 30 days ending at to."""

    def checked(field: str, day: dt.date) -> dt.date:
        if not EARLIEST <= day <= LATEST:
            raise _invalid(field, f"must lie between {EARLIEST} and {LATEST}")
        return day

    end = checked("date_to", date_to or today(zone, utcnow()))
    start = checked("date_from", date_from or max(end - dt.timedelta(DEFAULT_DAYS - 1), EARLIEST))
    if end < start:
        raise _invalid("date_to", "date_to is before date_from")
    if (end - start).days + 1 > MAX_DAYS:
        raise _invalid("date_to", f"the range spans more than {MAX_DAYS} days")
    return start, end


def _sum(column: Any) -> ColumnElement[int]:
    # sum(bigint) is numeric in PostgreSQL: cast back, so pandas gets integers.
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _queries(
    account_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    funnel_id: uuid.UUID | None,
    currency: str | None,
    zone: str,
) -> list[Select[Any]]:
    """One aggregate per source by (currency, local day), within account, range, funnel,
    currency."""

    def per_day(source: Any, at: Any, where: Any = ()) -> Any:
        # Charges are in their order's currency, so the order's labels every source.
        day = cast(func.timezone(zone, at), Date).label("day")
        stmt = select(Order.currency, day).select_from(source)
        if source is not Order:
            stmt = stmt.join(Order, Order.id == source.order_id)
        scope = [source.account_id == account_id, at >= start, at < end, *where]
        scope += [Order.funnel_id == funnel_id] if funnel_id else []
        scope += [Order.currency == currency] if currency else []
        return stmt.where(*scope).group_by(Order.currency, day)

    main = select(_sum(OrderCharge.captured_cents)).where(
        OrderCharge.order_id == Order.id,
        OrderCharge.kind == "main",
        OrderCharge.status == "succeeded",
    )
    has_bump = exists().where(OrderBump.order_id == Order.id)
    upsell_charge = [OrderCharge.kind == "upsell", OrderCharge.status == "succeeded"]
    return [
        per_day(Order, Order.paid_at).add_columns(
            func.count().label("orders"),
            func.count().filter(has_bump).label("bump_orders"),
            _sum(main.scalar_subquery()).label("main_cents"),
        ),
        per_day(OrderCharge, OrderCharge.created_at, upsell_charge).add_columns(
            _sum(OrderCharge.captured_cents).label("upsell_revenue_cents")
        ),
        per_day(OrderUpsell, OrderUpsell.created_at).add_columns(
            func.count().label("upsells_offered"),
            func.count().filter(OrderUpsell.decision == "accepted").label("upsells_accepted"),
        ),
        per_day(Refund, Refund.created_at, [Refund.status == "succeeded"]).add_columns(
            func.count().label("refunds"), _sum(Refund.amount_cents).label("refunded_cents")
        ),
        per_day(Dispute, Dispute.closed_at, [Dispute.status == "lost"]).add_columns(
            func.count().label("disputes_lost"),
            _sum(Dispute.amount_cents).label("disputes_lost_cents"),
        ),
    ]


def _derive(base: Any) -> Any:
    """The published figures from the summed base columns (per day or per range)."""
    orders = base["orders"].where(base["orders"] > 0)
    offered = base["upsells_offered"].where(base["upsells_offered"] > 0)
    gross = base["main_cents"] + base["upsell_revenue_cents"]
    return base.drop(columns="main_cents").assign(
        gross_revenue_cents=gross,
        net_revenue_cents=gross - base["refunded_cents"] - base["disputes_lost_cents"],
        aov_cents=(gross / orders).round(),
        bump_take_rate=(base["bump_orders"] / orders).round(4),
        upsell_take_rate=(base["upsells_accepted"] / offered).round(4),
    )


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, NaN (a ratio over zero) as None."""
    return [
        {key: None if pd.isna(value) else value for key, value in row.items()}
        for row in frame.to_dict("records")
    ]


def order_analytics(
    session: Session,
    *,
    account_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    funnel_id: uuid.UUID | None = None,
    currency: str | None = None,
) -> OrderAnalyticsOut:
    """The account's order figures per currency and local day (404 for another's funnel)."""
    zone = accounts.settings_of(session, account_id).timezone
    first, last = date_range(date_from, date_to, zone)
    if funnel_id is not None:
        funnels.get(session, account_id=account_id, funnel_id=funnel_id)
    start, end = day_start(first, zone), day_start(last + dt.timedelta(days=1), zone)
    frames = []
    for stmt in _queries(account_id, start, end, funnel_id, currency, zone):
        names = [c.name for c in stmt.selected_columns]
        rows = session.execute(stmt).all()
        frames.append(pd.DataFrame(rows, columns=names).set_index(["currency", "day"]))
    data = pd.concat(frames, axis=1).fillna(0).astype("int64")
    wanted = [currency] if currency else sorted(set(data.index.get_level_values("currency")))
    days = pd.date_range(first, last, freq="D").date
    grid = pd.MultiIndex.from_product([wanted, days], names=["currency", "day"])
    data = data.reindex(grid, fill_value=0)
    daily, totals = _derive(data), _derive(data.groupby(level="currency").sum())
    # The range's gross per currency, totalled where the funnel overview totals its own.
    gross = totals_by_currency(
        (code, int(cents))
        for (code, _day), cents in daily["gross_revenue_cents"].items()
    )
    totals["gross_revenue_cents"] = [gross.get(code, 0) for code in totals.index]
    return OrderAnalyticsOut(
        date_from=first,
        date_to=last,
        funnel_id=funnel_id,
        currency=currency,
        time_zone=zone,
        currencies=[
            CurrencySeries(
                currency=code,
                totals=Figures.model_validate(_records(totals.loc[[code]])[0]),
                days=[
                    DayFigures.model_validate(row)
                    for row in _records(daily.loc[code].rename_axis("date").reset_index())
                ],
            )
            for code in wanted
        ],
    )
