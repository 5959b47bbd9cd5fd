"""Operator gauges: what a context exposes at /metrics, computed when Prometheus scrapes.

A context lists its gauges as `GAUGES: list[Gauge]` in its own `metrics.py`, and one line
in `api/metrics.py` (`gauge_sources`) adds that list to the scrape. A gauge reads the
database through the scrape's session (or ignores it and reads elsewhere, like the broker)
and yields (label values, value) pairs. Gauges are operators' figures across all accounts:
a label never carries an account id, an email or anything else a tenant owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

Sample = tuple[tuple[str, ...], float]
"""The values of a gauge's labels, in order, and its value."""


@dataclass(frozen=True)
class Gauge:
    """One gauge family: its Prometheus name, help text, label names and how to read it."""

    name: str
    help: str
    read: Callable[[Session], Iterable[Sample]]
    labels: tuple[str, ...] = ()
    source: str = ""
    """What the gauge reads from (its `funnels_metrics_source_up` label); default: its name."""

    @property
    def source_name(self) -> str:
        """The source label of this gauge."""
        return self.source or self.name
