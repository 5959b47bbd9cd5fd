"""Realtime figures (#47): per funnel and minute, a count of events and a HyperLogLog of visitors.

The API writes them when it accepts events (in the same Redis call as the stream entry, see
writer.py), on the minute the events were received: "realtime" is about traffic now, so a
late event counts in the minute it arrived. Keys expire a little after the report's window.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.analytics.writer import QueueUnavailable, RealtimeGroup
from domain.funnels import service as funnels
from domain.shared.settings import Settings

PREFIX = "analytics:rt"


def minute_of(moment: datetime) -> int:
    """The minute a moment falls in, as Unix minutes."""
    return int(moment.timestamp()) // 60


def count_key(funnel_id: str, minute: int) -> str:
    """Key of a funnel's event count in one minute."""
    return f"{PREFIX}:{funnel_id}:{minute}:n"


def visitors_key(funnel_id: str, minute: int) -> str:
    """Key of a funnel's HyperLogLog of visitors in one minute."""
    return f"{PREFIX}:{funnel_id}:{minute}:v"


def ttl_seconds(window_minutes: int) -> int:
    """How long a minute's keys live: the longest window read, plus two minutes of slack."""
    return (window_minutes + 2) * 60


def groups(events: Iterable[dict[str, Any]], received_at: datetime) -> list[RealtimeGroup]:
    """The realtime counts of a request's events: per funnel, events and distinct visitors."""
    minute = minute_of(received_at)
    counts: dict[str, int] = defaultdict(int)
    visitors: dict[str, set[str]] = defaultdict(set)
    for event in events:
        funnel = event["funnel_id"]
        counts[funnel] += 1
        visitors[funnel].add(event["visitor_id"])
    return [
        RealtimeGroup(
            count_key=count_key(funnel, minute),
            visitors_key=visitors_key(funnel, minute),
            events=count,
            visitors=tuple(sorted(visitors[funnel])),
        )
        for funnel, count in counts.items()
    ]


@dataclass(frozen=True)
class Figures:
    """A funnel's last minutes as read from Redis."""

    as_of: datetime
    active_visitors: int
    per_minute: list[tuple[datetime, int]]
    """(minute start in UTC, events), oldest first, the current minute last."""


def read(
    client: redis.Redis, funnel_id: uuid.UUID, now: datetime, *, minutes: int, active: int
) -> Figures:
    """Events per minute over the last `minutes` and distinct visitors of the last `active`."""
    current = minute_of(now)
    span = range(current - minutes + 1, current + 1)
    funnel = str(funnel_id)
    with client.pipeline(transaction=False) as pipe:
        pipe.mget([count_key(funnel, m) for m in span])
        pipe.pfcount(*(visitors_key(funnel, m) for m in range(current - active + 1, current + 1)))
        counts, active_visitors = pipe.execute()
    per_minute = [
        (datetime.fromtimestamp(m * 60, UTC), int(c or 0))
        for m, c in zip(span, counts, strict=True)
    ]
    return Figures(as_of=now, active_visitors=int(active_visitors), per_minute=per_minute)


def check_funnel(session: Session, *, account_id: uuid.UUID, funnel_id: uuid.UUID) -> ZoneInfo:
    """The account's time zone, once the funnel is known to be the account's (else 404)."""
    funnels.get(session, account_id=account_id, funnel_id=funnel_id)
    return accounts.settings_of(session, account_id).zone


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def read_figures(settings: Settings, funnel_id: uuid.UUID, now: datetime) -> Figures:
    """The funnel's figures from the Redis of the settings; 503 if it does not answer."""
    if not settings.redis_url:
        raise QueueUnavailable()
    client = _client(settings.redis_url, settings.analytics_queue_timeout_seconds)
    try:
        return read(
            client,
            funnel_id,
            now,
            minutes=settings.analytics_realtime_minutes,
            active=settings.analytics_active_minutes,
        )
    except RedisError as exc:
        raise QueueUnavailable("Realtime figures are unavailable right now") from exc
