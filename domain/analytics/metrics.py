"""Gauges of the analytics context (docs/analytics.md)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from domain.analytics import stats_repository as rollup_repo
from domain.shared.db import utcnow
from domain.shared.metrics import Gauge, Sample


def _rollup_watermark_age(session: Session) -> Iterable[Sample]:
    """Seconds since the rollup last caught up (nothing before its first run)."""
    fresh = rollup_repo.freshness(session)
    if fresh is not None:
        yield (), max(0.0, (utcnow() - fresh).total_seconds())


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_analytics_rollup_watermark_age_seconds",
        "Seconds since the analytics rollup last caught up: how stale funnel reports may be "
        "(about the beat interval when healthy).",
        _rollup_watermark_age,
        source="analytics_rollup",
    ),
]
