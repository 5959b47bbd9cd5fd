"""Ingestion gauges: how far the drain is behind the API, read from the stream itself.

The lag is the age of the oldest entry not yet stored: the oldest one delivered to a drain
worker and not acknowledged, or else the oldest one not yet delivered at all (the whole
stream when no drain group exists yet); 0 when everything is stored. Ages are taken against
Redis' own clock (entry ids are its milliseconds), so the API's clock does not matter.
The rollup's gauge says how stale the reports may be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.orm import Session

from domain.analytics import stats_repository as rollup_repo
from domain.analytics.stream import GROUP, STREAM_KEY
from domain.shared.db import utcnow
from domain.shared.metrics import Gauge, Sample
from domain.shared.settings import get_settings


@dataclass(frozen=True)
class StreamState:
    """The stream's length, its drain group's pending entries and the lag in seconds."""

    entries: int
    pending: int
    lag_seconds: float


def _millis(entry_id: Any) -> int:
    """The Redis time (ms) an entry id was made at."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-")[0])


def _group(client: redis.Redis) -> dict[str, Any] | None:
    """The drain group's XINFO, or None when the group (or the stream) does not exist."""
    try:
        groups: list[dict[str, Any]] = client.xinfo_groups(STREAM_KEY)  # type: ignore[assignment]
    except redis.ResponseError:  # no such key
        return None
    for group in groups:
        name = group["name"]
        if (name.decode() if isinstance(name, bytes) else name) == GROUP:
            return group
    return None


def stream_state(client: redis.Redis) -> StreamState:
    """Read the stream's figures (a handful of commands, none that consumes anything)."""
    seconds, micros = client.time()  # type: ignore[misc]
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    entries = int(client.xlen(STREAM_KEY))  # type: ignore[arg-type]
    group = _group(client)
    oldest: list[int] = []
    pending = 0
    if group is None:
        first = client.xrange(STREAM_KEY, count=1)
    else:
        pending = int(group["pending"])
        if pending:
            summary: Any = client.xpending(STREAM_KEY, GROUP)
            oldest.append(_millis(summary["min"]))
        last = group["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else str(last)
        first = client.xrange(STREAM_KEY, min=f"({last}", count=1)
    if first:
        oldest.append(_millis(first[0][0]))  # type: ignore[index]
    lag = max(0, now_ms - min(oldest)) / 1000 if oldest else 0.0
    return StreamState(entries=entries, pending=pending, lag_seconds=lag)


def _client() -> redis.Redis:
    """A short-lived client (a scrape must not hang on a dead Redis)."""
    url = get_settings().redis_url
    if not url:
        raise RuntimeError("REDIS_URL is unset: the analytics stream is not read")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def _state() -> StreamState:
    client = _client()
    try:
        return stream_state(client)
    finally:
        client.close()


def _lag(_session: Session) -> Iterable[Sample]:
    yield (), _state().lag_seconds


def _entries(_session: Session) -> Iterable[Sample]:
    yield (), float(_state().entries)


def _pending(_session: Session) -> Iterable[Sample]:
    yield (), float(_state().pending)


def _rollup_watermark_age(session: Session) -> Iterable[Sample]:
    """Seconds since the rollup last caught up (nothing before its first run)."""
    fresh = rollup_repo.freshness(session)
    if fresh is not None:
        yield (), max(0.0, (utcnow() - fresh).total_seconds())


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_analytics_ingest_lag_seconds",
        "Age of the oldest accepted tracking entry not yet stored (pending or undelivered).",
        _lag,
        source="analytics_stream",
    ),
    Gauge(
        "funnels_analytics_stream_entries",
        "Entries held in the analytics stream (its length).",
        _entries,
        source="analytics_stream",
    ),
    Gauge(
        "funnels_analytics_stream_pending",
        "Analytics stream entries delivered to a drain worker and not yet acknowledged.",
        _pending,
        source="analytics_stream",
    ),
    Gauge(
        "funnels_analytics_rollup_watermark_age_seconds",
        "Seconds since the analytics rollup last caught up: how stale funnel reports may be "
        "(about the beat interval when healthy).",
        _rollup_watermark_age,
        source="analytics_rollup",
    ),
]
