"""Gauges of the orders context: money objects left pending with nothing to move them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy.orm import Session

from domain.orders import service
from domain.shared.metrics import Gauge, Sample


def _stuck(session: Session) -> Iterable[Sample]:
    """Per table, how many rows are pending with no job or sweep that will move them."""
    counts = Counter(table for table, _id, _status in service.stuck_money(session))
    for table in ("refunds", "order_charges", "orders"):
        yield (table,), float(counts[table])


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_money_stuck",
        "Refunds, upsell charges and orders pending with nothing that will move them "
        "(should always be 0; docs/retries.md).",
        _stuck,
        labels=("table",),
        source="orders",
    ),
]
