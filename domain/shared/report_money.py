"""Report money, computed in one place: what gross revenue is, summed per currency.

Gross revenue is what was captured: a paid order's main charge and every accepted one-click
offer's charge (upsells and downsells), before refunds and disputes. Orders analytics (from
the orders' charges) and the funnel overview (from the purchase and upsell_accepted
analytics events, which carry the captured amounts) both total it with these functions, so
the two agree to the cent for the same account, funnel, range and zone.
"""

from __future__ import annotations

from collections.abc import Iterable


def totals_by_currency(amounts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Cents per currency (integers, never added across currencies), sorted by currency."""
    totals: dict[str, int] = {}
    for currency, cents in amounts:
        totals[currency] = totals.get(currency, 0) + int(cents)
    return dict(sorted(totals.items()))


def per_visitor(cents: int, visitors: int) -> float | None:
    """Earnings per click: cents per unique visitor, to a hundredth of a cent (None: no visitor)."""
    return round(cents / visitors, 2) if visitors else None
