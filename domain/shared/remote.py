"""Calling remote services: how failures are classified and how long to wait before retrying.

A 4xx from a remote is final, except 408, 409 "in progress" and 429 (wait Retry-After);
5xx and network errors are retried with exponential backoff and jitter, capped. Card
declines are final (the payments gateway raises FinalRemoteError for them).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt

T = TypeVar("T")


class RemoteError(Exception):
    """A remote call failed."""

    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RetryableRemoteError(RemoteError):
    """Worth trying again later (5xx, network, 408, 409 in progress, 429)."""

    retryable = True


class FinalRemoteError(RemoteError):
    """Trying again will not help (other 4xx, declines)."""


class NotYet(Exception):
    """What a job waits for has not happened yet (a checkout still being paid).

    Raised by a job body, it commits what the body did so far and looks again later on the
    wait schedule, spending no attempt: waiting is bounded by the business (an unpaid order
    expires), not by the retry budget. delay_seconds, when given, replaces the wait schedule's
    next wait (a provider's Retry-After, a retry schedule of the job's own).
    """

    def __init__(self, message: str = "", *, delay_seconds: float | None = None) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_status(
    status: int, headers: Mapping[str, str] | None = None, *, in_progress: bool = False
) -> RemoteError | None:
    """The error an HTTP status means (None for success).

    in_progress: the remote said its 409 means "still working on it" (Stripe idempotency).
    """
    if status < 400:
        return None
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    message = f"remote answered {status}"
    if status >= 500 or status in (408, 429) or (status == 409 and in_progress):
        return RetryableRemoteError(message, status=status, retry_after=retry_after)
    return FinalRemoteError(message, status=status)


def classify_exception(exc: BaseException) -> RemoteError:
    """Network failures are retryable; an HTTP status error is classified by its status."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, httpx.HTTPStatusError):
        error = classify_status(exc.response.status_code, exc.response.headers)
        return error or FinalRemoteError(str(exc))
    if isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError):
        return RetryableRemoteError(f"network error: {exc.__class__.__name__}: {exc}")
    return FinalRemoteError(f"{exc.__class__.__name__}: {exc}")


def backoff_seconds(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter: half the capped delay fixed, half random."""
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + rng() * delay / 2


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RemoteError) and exc.retry_after is not None:
        return float(min(exc.retry_after, 5.0))
    return backoff_seconds(state.attempt_number, base=0.2, cap=2.0)


def short_retry(attempts: int = 3) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Retry a call in place a few times, briefly (for a request that must answer now)."""
    decorator: Callable[[Callable[..., T]], Callable[..., T]] = retry(
        retry=retry_if_exception_type(RetryableRemoteError),
        wait=_wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    return decorator
