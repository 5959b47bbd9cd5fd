"""Retry schedules: how long a job waits after each failed attempt, per kind of work.

A schedule is a list of waits, one per retry, written in settings as `1m,5m,1h` (units s,
m, h, d). A job gets one attempt more than its schedule has waits; every wait is jittered
by up to RETRY_JITTER either way, so jobs that failed together do not retry together.
Waiting for something expected (a checkout still being paid) follows the wait schedule
instead and spends none of the retry budget.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from domain.shared.durations import parse_schedule
from domain.shared.settings import Settings, get_settings


def retry_schedule(queue: str, settings: Settings | None = None) -> tuple[float, ...]:
    """The retry waits of work on a queue (payments, webhooks, integrations, else default)."""
    s = settings or get_settings()
    text = {
        "payments": s.retry_schedule_payments,
        "webhooks": s.retry_schedule_webhooks,
        "integrations": s.retry_schedule_integrations,
    }.get(queue, s.retry_schedule_default)
    return parse_schedule(text)


def jittered(seconds: float, *, jitter: float, rng: Callable[[], float] = random.random) -> float:
    """seconds moved by up to ±jitter of itself."""
    return seconds * (1 + jitter * (2 * rng() - 1))


def retry_delay(queue: str, failed_attempts: int, settings: Settings | None = None) -> float | None:
    """Seconds to wait after the n-th failed attempt; None when the schedule is spent."""
    s = settings or get_settings()
    waits = retry_schedule(queue, s)
    if failed_attempts > len(waits):
        return None
    return jittered(waits[failed_attempts - 1], jitter=s.retry_jitter)


def wait_delay(waits_so_far: int, settings: Settings | None = None) -> float:
    """Seconds until the next look at something expected; the last wait repeats."""
    s = settings or get_settings()
    waits = parse_schedule(s.wait_schedule)
    return jittered(waits[min(waits_so_far, len(waits) - 1)], jitter=s.retry_jitter)


def max_attempts(queue: str, settings: Settings | None = None) -> int:
    """Attempts a job on this queue gets: the first one and one per wait of its schedule."""
    return len(retry_schedule(queue, settings)) + 1
