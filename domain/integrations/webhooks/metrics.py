"""Gauges of outgoing webhooks: how long the oldest undelivered delivery has waited."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from domain.integrations.webhooks import service
from domain.shared.db import utcnow
from domain.shared.metrics import Gauge, Sample


def _oldest(session: Session) -> Iterable[Sample]:
    """Seconds since the oldest pending delivery to an enabled endpoint was created (0: none).

    A worker that silently stopped delivering while the API kept accepting shows here as a
    figure that only grows; a retry schedule alone keeps it under about 28 hours.
    """
    oldest = service.oldest_undelivered(session)
    yield (), max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_webhook_oldest_undelivered_seconds",
        "Age of the oldest webhook delivery still pending to an enabled endpoint (0 when none).",
        _oldest,
        source="webhooks",
    ),
]
