"""Retry schedules: parsing, jitter, budgets, and the payments window check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.jobs import schedules
from domain.shared.durations import parse_schedule
from domain.shared.settings import Settings

SECRET = {"environment": "test", "secret_key": "x" * 40}


def test_a_schedule_is_a_list_of_durations() -> None:
    assert parse_schedule("30s, 5m,2h,1d,0.5s") == (30.0, 300.0, 7200.0, 86400.0, 0.5)


@pytest.mark.parametrize("bad", ["", "5", "5x", "m5", "1m,,2m", "-1s"])
def test_a_malformed_schedule_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_schedule(bad)


def test_jitter_stays_within_its_fraction_either_way() -> None:
    assert schedules.jittered(100, jitter=0.1, rng=lambda: 0.0) == pytest.approx(90)
    assert schedules.jittered(100, jitter=0.1, rng=lambda: 1.0) == pytest.approx(110)
    assert schedules.jittered(100, jitter=0.1, rng=lambda: 0.5) == pytest.approx(100)


def test_each_kind_of_work_has_its_schedule_and_a_spent_one_says_so() -> None:
    s = Settings(**SECRET, retry_jitter=0, retry_schedule_webhooks="5s,5m")  # type: ignore[arg-type]
    assert schedules.max_attempts("webhooks", s) == 3
    assert schedules.retry_delay("webhooks", 1, s) == 5
    assert schedules.retry_delay("webhooks", 2, s) == 300
    assert schedules.retry_delay("webhooks", 3, s) is None
    assert (
        schedules.retry_delay("unknown-queue", 1, s) == parse_schedule(s.retry_schedule_default)[0]
    )


def test_the_default_payments_schedule_spans_hours_inside_stripes_key_window() -> None:
    waits = parse_schedule(Settings(**SECRET).retry_schedule_payments)  # type: ignore[arg-type]
    assert 18 * 3600 < sum(waits) * 1.1 < 23 * 3600


def test_waiting_repeats_its_last_wait() -> None:
    s = Settings(**SECRET, retry_jitter=0, wait_schedule="5s,1m")  # type: ignore[arg-type]
    assert [schedules.wait_delay(n, s) for n in range(4)] == [5, 60, 60, 60]


def test_a_payments_schedule_past_the_key_window_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="STRIPE_KEY_WINDOW_HOURS"):
        Settings(**SECRET, retry_schedule_payments="1h,10h,12h")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a duration"):
        Settings(**SECRET, retry_schedule_webhooks="soon")  # type: ignore[arg-type]
