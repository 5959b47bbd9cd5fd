"""What one attempt's answer does to a delivery, without a database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.integrations.webhooks.deliveries import (
    Outcome,
    body_of,
    message_id,
    retry_after_seconds,
    verdict,
)
from domain.shared.settings import Settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(retry_jitter=0.1, webhook_retry_after_cap_seconds=3600)


def _outcome(status: int | None, retry_after: float | None = None) -> Outcome:
    return Outcome(
        delivery_id=uuid.uuid4(),
        webhook_id=uuid.uuid4(),
        attempted_at=NOW,
        duration_ms=5,
        status_code=status,
        error=None if status else "ConnectError: refused",
        retry_after=retry_after,
    )


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_delivers(status: int) -> None:
    assert verdict(_outcome(status), 1, SETTINGS) == ("succeeded", None)


@pytest.mark.parametrize("status", [None, 301, 302, 400, 404, 500, 502])
def test_everything_else_waits_its_jittered_step(status: int | None) -> None:
    result, delay = verdict(_outcome(status), 1, SETTINGS)
    assert result == "retry"
    assert delay is not None
    assert 4.5 <= delay <= 5.5


def test_the_waits_follow_the_schedule_then_fail() -> None:
    waits = [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempts, wait in enumerate(waits, start=1):
        result, delay = verdict(_outcome(500), attempts, SETTINGS)
        assert result == "retry"
        assert delay is not None
        assert wait * 0.9 <= delay <= wait * 1.1
    assert verdict(_outcome(500), 8, SETTINGS) == ("failed", None)


def test_gone_disables_whatever_the_attempt() -> None:
    assert verdict(_outcome(410), 1, SETTINGS) == ("gone", None)


@pytest.mark.parametrize(
    ("status", "retry_after", "least", "most"),
    [
        (429, 600.0, 600, 600),  # longer than the 5 s step: honoured
        (503, 1.0, 4.5, 5.5),  # shorter: the schedule wins
        (429, 10**6, 3600, 3600),  # capped
        (500, 600.0, 4.5, 5.5),  # only 429 and 503 are asked to wait
    ],
)
def test_retry_after(status: int, retry_after: float, least: float, most: float) -> None:
    _, delay = verdict(_outcome(status, retry_after), 1, SETTINGS)
    assert delay is not None
    assert least <= delay <= most


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Tue, 01 Dec 2026 12:10:00 GMT", 600.0),
        ("Tue, 01 Dec 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_message_id_and_body_are_stable() -> None:
    delivery = uuid.uuid4()
    assert message_id(delivery) == message_id(delivery) == f"msg_{delivery.hex}"
    data = {"b": 1, "a": [1, 2]}
    first = body_of("order.paid", NOW, data, 7)
    assert first == body_of("order.paid", NOW + timedelta(0), dict(reversed(data.items())), 7)
    assert json.loads(first) == {
        "type": "order.paid",
        "timestamp": "2026-12-01T12:00:00Z",
        "event_id": 7,
        "data": data,
    }
