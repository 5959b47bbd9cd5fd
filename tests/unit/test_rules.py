"""Pure rules: remote failure classification, backoff, retries, fingerprints, queues, schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from domain.accounts.service import _slugify
from domain.jobs.queues import queue_for
from domain.products.schemas import ProductIn, ProductPatch
from domain.shared.idempotency import fingerprint
from domain.shared.remote import (
    FinalRemoteError,
    RetryableRemoteError,
    backoff_seconds,
    classify_exception,
    classify_status,
    parse_retry_after,
    short_retry,
)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(200, None), (400, False), (401, False), (404, False), (408, True), (409, False),
     (422, False), (429, True), (500, True), (502, True), (503, True)],
)  # fmt: skip
def test_remote_status_classification(status: int, retryable: bool | None) -> None:
    error = classify_status(status)
    assert (None if error is None else error.retryable) == retryable


def test_409_in_progress_waits_and_429_honours_retry_after() -> None:
    assert classify_status(409, in_progress=True).retryable  # type: ignore[union-attr]
    error = classify_status(429, {"retry-after": "30"})
    assert isinstance(error, RetryableRemoteError)
    assert error.retry_after == 30


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None


def test_network_errors_are_retryable_and_others_final() -> None:
    assert classify_exception(httpx.ConnectError("refused")).retryable
    assert classify_exception(httpx.ReadTimeout("slow")).retryable
    assert not classify_exception(ValueError("bug")).retryable


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = [backoff_seconds(n, base=2, cap=3600, rng=lambda: 0.0) for n in range(1, 6)]
    high = [backoff_seconds(n, base=2, cap=3600, rng=lambda: 1.0) for n in range(1, 6)]
    assert low == [1, 2, 4, 8, 16]
    assert high == [2, 4, 8, 16, 32]
    assert backoff_seconds(30, base=2, cap=3600, rng=lambda: 1.0) == 3600


def test_short_retry_retries_retryable_errors_only() -> None:
    calls: list[int] = []

    @short_retry(attempts=3)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableRemoteError("503", retry_after=0)
        return "ok"

    assert flaky() == "ok"
    assert len(calls) == 3

    @short_retry(attempts=3)
    def broken() -> Any:
        calls.append(1)
        raise FinalRemoteError("400")

    calls.clear()
    with pytest.raises(FinalRemoteError):
        broken()
    assert len(calls) == 1


def test_fingerprint_ignores_key_order_and_whitespace_but_not_values_or_path() -> None:
    a = fingerprint("POST", "/api/v1/orders", b'{"a": 1, "b": [1, 2]}')
    assert a == fingerprint("post", "/api/v1/orders", b'{ "b":[1,2], "a":1 }')
    assert a != fingerprint("POST", "/api/v1/orders", b'{"a": 2, "b": [1, 2]}')
    assert a != fingerprint("POST", "/api/v1/other", b'{"a": 1, "b": [1, 2]}')


def test_queues_follow_the_task_context() -> None:
    assert queue_for("orders.charge") == "payments"
    assert queue_for("webhooks.deliver") == "webhooks"
    assert queue_for("integrations.sync") == "integrations"
    assert queue_for("analytics.rollup") == "analytics"
    assert queue_for("jobs.sweep_outbox") == "default"


def test_slugs() -> None:
    assert _slugify("Acme  Funnels, Inc.") == "acme-funnels-inc"
    assert _slugify("!!!") == "account"


def test_schemas_refuse_nul_bytes_unknown_fields_and_nulls() -> None:
    with pytest.raises(ValidationError):
        ProductIn.model_validate({"name": "a\x00b", "price_cents": 1, "currency": "USD"})
    with pytest.raises(ValidationError):
        ProductIn.model_validate({"name": "a", "price_cents": 1, "currency": "USD", "x": 1})
    with pytest.raises(ValidationError, match="may not be null"):
        ProductPatch.model_validate({"name": None})
    assert ProductPatch.model_validate({"description": None}).changes() == {"description": None}
    assert (
        ProductIn.model_validate({"name": "a", "price_cents": 1, "currency": "eur"}).currency
        == "EUR"
    )
