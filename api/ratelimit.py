"""Rate limits on the `limits` library with Redis storage; their headers go on every answer."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage, Storage, storage_from_string
from redis.exceptions import RedisError
from starlette.requests import Request

from domain.shared.errors import RateLimited
from domain.shared.settings import Settings

log = logging.getLogger(__name__)

SCOPE_KEY = "funnels.rate_limit_headers"
COUNTED_KEY = "funnels.rate_limit_counted"


@dataclass(frozen=True)
class Budget:
    """The limits of one caller key: one or more windows (`100/10 seconds;200000/day`)."""

    limit: str
    key: str


@lru_cache(maxsize=4)
def _storage(redis_url: str) -> Storage:
    storage = storage_from_string(redis_url)
    assert isinstance(storage, Storage)  # a synchronous one: the URL names no async scheme
    return storage


def _expiry(storage: Storage, key: str) -> float:
    """When a window's counter expires, to the millisecond.

    limits' get_expiry reads Redis' TTL, which is rounded to whole seconds: a Retry-After
    made from it could send a client back half a second before its budget returns.
    """
    if isinstance(storage, RedisStorage):
        connection: Any = storage.get_connection(True)  # limits types it without pttl
        millis = connection.pttl(storage.prefixed_key(key))
        return time.time() + max(int(millis), 0) / 1000
    return storage.get_expiry(key)


@lru_cache(maxsize=64)
def _windows(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


def count_request(request: Request, settings: Settings, budgets: list[Budget]) -> None:
    """Count this request once against every window of every budget; 429 if one is spent.

    The unit is the HTTP request, never what it carries (a batch of tracking events costs one),
    and a request is counted once per budget key however many dependencies ask. Windows are
    hit in order and the first refusal stops the count, so refused requests do not spend the
    longer windows behind it (put burst windows first). The tightest window's figures go on
    the answer as X-RateLimit-* headers; a refusal's Retry-After is when every spent window
    has come back. A Redis outage lets requests through (logged) rather than taking the API
    down.
    """
    if not settings.rate_limit_enabled or not budgets or not settings.redis_url:
        return
    counted: set[str] = request.scope.setdefault(COUNTED_KEY, set())
    windows = [
        (item, item.key_for("funnels", budget.key))
        for budget in budgets
        if budget.key not in counted
        for item in _windows(budget.limit)
    ]
    if not windows:
        return
    counted.update(budget.key for budget in budgets)
    storage = _storage(settings.redis_url)
    try:
        # The same counters as limits' FixedWindowRateLimiter.hit, one round trip per window
        # (its hit + get_window_stats would be three), then the expiry of the windows shown.
        refused = False
        figures = []  # (remaining, limit, window seconds, storage key)
        for item, key in windows:
            if refused:
                used = storage.get(key)
            else:
                used = storage.incr(key, item.get_expiry())
                refused = used > item.amount
            figures.append((max(0, item.amount - used), item.amount, item.get_expiry(), key))
        remaining, amount, _, key = min(figures, key=lambda f: (f[0], -f[2]))
        reset = _expiry(storage, key)
        if refused:
            reset = max(_expiry(storage, f[3]) for f in figures if f[0] == 0)
    except RedisError:
        log.warning("rate limiter storage unavailable; letting the request through", exc_info=True)
        return
    headers = {
        "X-RateLimit-Limit": str(amount),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }
    request.scope[SCOPE_KEY] = headers
    if refused:
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(
            retry_after=retry_after, headers={**headers, "Retry-After": str(retry_after)}
        )


def budget_windows(settings: Settings, budgets: list[Budget]) -> list[tuple[str, int, int]]:
    """(Redis key, limit, window seconds) of every window of the budgets, in count order.

    The keys are those count_request's storage uses, so a caller counted elsewhere (the
    analytics writer, in its own Redis call) spends the same budget. None when rate limits
    are off.
    """
    if not settings.rate_limit_enabled or not settings.redis_url:
        return []
    return windows_of(tuple(budgets))


@lru_cache(maxsize=4096)
def windows_of(budgets: tuple[Budget, ...]) -> list[tuple[str, int, int]]:
    """budget_windows without the switch, remembered (the same callers come back)."""
    return [
        (
            f"{RedisStorage.PREFIX}:{item.key_for('funnels', budget.key)}",
            item.amount,
            item.get_expiry(),
        )
        for budget in budgets
        for item in _windows(budget.limit)
    ]


def apply_counts(
    request: Request, windows: list[tuple[str, int, int]], counted: list[tuple[int, int]]
) -> None:
    """Headers (and a 429 if a window is spent) from counts made elsewhere.

    counted: (requests in the window, milliseconds until it resets) per window, in order; the
    figures and the 429 are count_request's.
    """
    if not windows:
        return
    now = time.time()
    figures = [
        (max(0, limit - used), limit, expiry, now + max(pttl, 0) / 1000)
        for (_, limit, expiry), (used, pttl) in zip(windows, counted, strict=True)
    ]
    refused = any(used > limit for (_, limit, _), (used, _) in zip(windows, counted, strict=True))
    remaining, amount, _, reset = min(figures, key=lambda f: (f[0], -f[2]))
    if refused:
        reset = max(f[3] for f in figures if f[0] == 0)
    headers = {
        "X-RateLimit-Limit": str(amount),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }
    request.scope[SCOPE_KEY] = headers
    if refused:
        retry_after = max(1, math.ceil(reset - now))
        raise RateLimited(
            retry_after=retry_after, headers={**headers, "Retry-After": str(retry_after)}
        )


enforce = count_request
"""The former name of count_request."""
