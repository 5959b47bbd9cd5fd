"""Broker gauges: messages waiting in each Celery queue, and delivered but unacknowledged.

Celery's Redis transport (kombu) keeps a queue as Redis lists: the queue's name for priority
0 and `<queue>\\x06\\x16<step>` for the other priority steps (kombu.transport.redis, `_put`
and `_size`); delivered messages wait for their acknowledgement in the `unacked` hash.
Read with LLEN/HLEN through the broker URL of the settings, so a scrape consumes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from sqlalchemy.orm import Session

from domain.jobs.queues import QUEUES
from domain.shared.metrics import Gauge, Sample
from domain.shared.settings import get_settings

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _broker() -> redis.Redis:
    """A short-lived client of the Redis broker (a scrape must not hang on a dead one)."""
    url = get_settings().broker_url
    if not url.startswith(_REDIS_SCHEMES):
        raise RuntimeError("the broker is not Redis: queue depths are not read")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps one queue in, one per priority step."""
    return [queue if step == 0 else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting in each of our queues (all priorities together)."""
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for key in queue_keys(queue):
                pipe.llen(key)
        sizes = pipe.execute()
    steps = len(PRIORITY_STEPS)
    return {queue: sum(sizes[i * steps : (i + 1) * steps]) for i, queue in enumerate(QUEUES)}


def _queue_messages(_session: Session) -> Iterable[Sample]:
    """One sample per queue."""
    client = _broker()
    try:
        depths = queue_depths(client)
    finally:
        client.close()
    for queue, depth in depths.items():
        yield (queue,), float(depth)


def _unacked_messages(_session: Session) -> Iterable[Sample]:
    """Delivered, unacknowledged messages of every queue."""
    client = _broker()
    try:
        count = int(client.hlen(Channel.unacked_key))  # type: ignore[arg-type] # sync client
    finally:
        client.close()
    yield (), float(count)


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_broker_queue_messages",
        "Messages waiting in a broker queue (not yet taken by a worker).",
        _queue_messages,
        labels=("queue",),
        source="broker",
    ),
    Gauge(
        "funnels_broker_unacked_messages",
        "Messages delivered to workers and not yet acknowledged (running or prefetched).",
        _unacked_messages,
        source="broker",
    ),
]
