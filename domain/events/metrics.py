"""Gauges of the events context: how far behind each feed consumer is."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from domain.events import service
from domain.shared.metrics import Gauge, Sample


def _lags(session: Session) -> Iterable[Sample]:
    """One sample per consumer: committed events it has not consumed yet."""
    for name, lag in service.consumer_lags(session).items():
        yield (name,), float(lag)


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_feed_consumer_lag_events",
        "Events of the domain-events feed that a consumer has not processed yet.",
        _lags,
        labels=("consumer",),
        source="feed",
    ),
]
