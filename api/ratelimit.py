"""Rate limits on the `limits` library with Redis storage; their headers go on every answer."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError
from starlette.requests import Request

from domain.shared.errors import RateLimited
from domain.shared.settings import Settings

log = logging.getLogger(__name__)

SCOPE_KEY = "funnels.rate_limit_headers"


@dataclass(frozen=True)
class Budget:
    """One limit applied to one caller key (e.g. 100/hour for user:<id>)."""

    limit: str
    key: str


@lru_cache(maxsize=4)
def _limiter(redis_url: str) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_from_string(redis_url))


@lru_cache(maxsize=64)
def _parse(limit: str) -> RateLimitItem:
    return parse(limit)


def enforce(request: Request, settings: Settings, budgets: list[Budget]) -> None:
    """Count this request against every budget; 429 if any is spent.

    The tightest budget's figures are attached to the answer as X-RateLimit-* headers.
    A Redis outage lets requests through (logged) rather than taking the API down.
    """
    if not settings.rate_limit_enabled or not budgets or not settings.redis_url:
        return
    limiter = _limiter(settings.redis_url)
    tightest: tuple[int, int, float] | None = None  # remaining, limit, reset
    exceeded = False
    try:
        for budget in budgets:
            item = _parse(budget.limit)
            allowed = limiter.hit(item, "funnels", budget.key)
            stats = limiter.get_window_stats(item, "funnels", budget.key)
            figures = (stats.remaining if allowed else 0, item.amount, stats.reset_time)
            if tightest is None or figures[0] < tightest[0]:
                tightest = figures
            exceeded = exceeded or not allowed
    except RedisError:
        log.warning("rate limiter storage unavailable; letting the request through", exc_info=True)
        return
    assert tightest is not None
    remaining, amount, reset = tightest
    headers = {
        "X-RateLimit-Limit": str(amount),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }
    request.scope[SCOPE_KEY] = headers
    if exceeded:
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(
            retry_after=retry_after, headers={**headers, "Retry-After": str(retry_after)}
        )
