"""Gauges of the analytics drain: what the stream holds that is not in PostgreSQL yet.

The drain deletes an entry once its events are committed, so the stream's length is the
backlog and its first entry (ids are Redis' milliseconds at XADD) the oldest undrained one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis
from sqlalchemy.orm import Session

from domain.analytics import drain, stream
from domain.shared.metrics import Gauge, Sample


def _backlog(_session: Session) -> Iterable[Sample]:
    length: Any = drain.client().xlen(stream.STREAM_KEY)
    yield (), float(length)


def _pending(_session: Session) -> Iterable[Sample]:
    try:
        summary: Any = drain.client().xpending(stream.STREAM_KEY, stream.GROUP)
    except redis.ResponseError:  # no stream or group yet: nothing was ever read
        yield (), 0.0
        return
    yield (), float(summary["pending"])


def _oldest_age(_session: Session) -> Iterable[Sample]:
    first: Any = drain.client().xrange(stream.STREAM_KEY, count=1)
    if not first:
        yield (), 0.0
        return
    added_ms = int(first[0][0].split("-")[0])
    yield (), max(0.0, time.time() - added_ms / 1000)


DRAIN_GAUGES: list[Gauge] = [
    Gauge(
        "funnels_analytics_drain_backlog_entries",
        "Stream entries (accepted tracking requests) whose events are not stored yet.",
        _backlog,
        source="analytics_stream",
    ),
    Gauge(
        "funnels_analytics_drain_pending_entries",
        "Stream entries a drain consumer has read and not acknowledged yet.",
        _pending,
        source="analytics_stream",
    ),
    Gauge(
        "funnels_analytics_drain_oldest_entry_age_seconds",
        "Age of the oldest stream entry not stored yet (0 when the stream is empty).",
        _oldest_age,
        source="analytics_stream",
    ),
]
