"""Deliveries: one row per event and subscribed endpoint, and what each attempt's answer does.

The schedule is the delivery's due time (`next_attempt_at`): immediately, then the waits
of RETRY_SCHEDULE_WEBHOOKS, each jittered. 2xx is success; anything else (3xx included,
redirects are never followed) is a failed attempt; 410 disables the endpoint; 429 and 503
wait at least their Retry-After (capped). Past the last attempt a delivery is `failed`.
An endpoint whose attempts have all failed for WEBHOOK_DISABLE_AFTER_DAYS is disabled,
and the account is told with a `webhook.endpoint_disabled` event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from domain.integrations.webhooks import repository as repo
from domain.integrations.webhooks.models import Webhook
from domain.jobs import schedules
from domain.shared import events
from domain.shared.settings import Settings, get_settings

TEST_EVENT_TYPE = "webhook.test"
"""The type of a test message (POST .../test); not a domain event."""

Verdict = Literal["succeeded", "retry", "failed", "gone"]


def message_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of a delivery: the same on every attempt, so receivers deduplicate."""
    return f"msg_{delivery_id.hex}"


def body_of(
    event_type: str, occurred_at: datetime, data: dict[str, Any], event_id: int | None
) -> str:
    """The JSON body sent, Standard Webhooks' shape: type, timestamp, data."""
    document = {
        "type": event_type,
        "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
        "event_id": event_id,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def new_delivery(
    webhook: Webhook, *, event_id: int | None, event_type: str, body: str, now: datetime
) -> dict[str, Any]:
    """The row of a delivery due now."""
    return {
        "id": uuid.uuid4(),
        "account_id": webhook.account_id,
        "webhook_id": webhook.id,
        "event_id": event_id,
        "event_type": event_type,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the answer's status (None: no answer) or the error."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        """Only a 2xx answer delivers."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
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
        return None
    return max(0.0, (when - now).total_seconds())


def verdict(outcome: Outcome, attempts: int, settings: Settings) -> tuple[Verdict, float | None]:
    """What the attempt means after `attempts` attempts of this schedule, and the wait."""
    if outcome.succeeded:
        return "succeeded", None
    if outcome.status_code == 410:
        return "gone", None
    delay = schedules.retry_delay("webhooks", attempts, settings)
    if delay is None:
        return "failed", None
    if outcome.status_code in (429, 503) and outcome.retry_after:
        delay = max(delay, min(outcome.retry_after, settings.webhook_retry_after_cap_seconds))
    return "retry", delay


def _attempt_row(state: repo.DeliveryState, outcome: Outcome) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "account_id": state.account_id,
        "delivery_id": state.id,
        "webhook_id": state.webhook_id,
        "attempted_at": outcome.attempted_at,
        "status_code": outcome.status_code,
        "duration_ms": outcome.duration_ms,
        "succeeded": outcome.succeeded,
        "response_excerpt": outcome.excerpt,
        "error": (outcome.error or "")[:500] or None,
    }


def _apply(
    state: repo.DeliveryState, outcome: Outcome, now: datetime, settings: Settings
) -> tuple[Verdict, dict[str, Any]]:
    """The verdict of one more attempt, and the delivery's new values."""
    attempts = state.attempts + 1
    result, delay = verdict(outcome, attempts, settings)
    changes: dict[str, Any] = {
        "b_id": state.id,
        "attempts": attempts,
        "last_attempt_at": outcome.attempted_at,
        "last_status_code": outcome.status_code,
        "last_error": (outcome.error or "")[:500] or None,
        "status": "pending" if result == "retry" else "succeeded",
        "delivered_at": None,
        "next_attempt_at": None,
        "updated_at": now,
    }
    if result == "succeeded":
        changes["delivered_at"] = outcome.attempted_at
    elif result == "retry":
        assert delay is not None
        changes["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        changes["status"] = "failed"
    return result, changes


def record(session: Session, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Record attempts (one row each) and move their deliveries and endpoints on.

    Plain statements, a few per batch whatever its size (this runs once per batch of
    finished attempts in the dispatcher).
    """
    settings = get_settings()
    states = repo.lock_states(session, [o.delivery_id for o in outcomes])
    healthy: set[uuid.UUID] = set()
    failing: dict[uuid.UUID, datetime] = {}
    gone: set[uuid.UUID] = set()
    attempts, updates = [], []
    for outcome in sorted(outcomes, key=lambda o: o.delivery_id):
        state = states.get(outcome.delivery_id)
        if state is None:
            continue  # deleted with its endpoint meanwhile
        attempts.append(_attempt_row(state, outcome))
        if state.status != "pending":
            continue  # a redelivery raced this attempt; the attempt is still on record
        result, changes = _apply(state, outcome, now, settings)
        updates.append(changes)
        if result == "succeeded":
            healthy.add(state.webhook_id)
        else:
            failing.setdefault(state.webhook_id, outcome.attempted_at)
            if result == "gone":
                gone.add(state.webhook_id)
    repo.insert_attempts(session, attempts)
    repo.update_deliveries(session, updates)
    # One success among the batch resets the clock: the endpoint is answering.
    repo.mark_healthy(session, healthy)
    clocks = repo.mark_failing(session, set(failing) - healthy, min(failing.values(), default=now))
    limit = timedelta(days=settings.webhook_disable_after_days)
    for webhook_id in sorted(set(clocks) | gone):
        since, enabled = clocks.get(webhook_id, (now, True))
        if webhook_id in gone:
            disable_by_id(session, webhook_id, "answered 410 Gone", now)
        elif enabled and now - since >= limit:
            days = settings.webhook_disable_after_days
            disable_by_id(session, webhook_id, f"failing for {days:g} days", now)


def disable_by_id(session: Session, webhook_id: uuid.UUID, reason: str, now: datetime) -> None:
    """Disable an endpoint (if enabled), fail what it had pending, and tell the account."""
    webhook = repo.lock_webhook(session, webhook_id)
    if webhook is None or not webhook.enabled:
        return
    webhook.enabled = False
    webhook.disabled_at = now
    webhook.disabled_reason = reason
    repo.fail_pending(session, webhook.id, f"endpoint disabled: {reason}", now)
    events.record(
        session,
        account_id=webhook.account_id,
        type="webhook.endpoint_disabled",
        subject_id=webhook.id,
        payload={"webhook_id": webhook.id, "url": webhook.url, "reason": reason},
    )
