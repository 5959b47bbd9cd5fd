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
from domain.integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
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


def _attempt_row(delivery: WebhookDelivery, outcome: Outcome) -> WebhookAttempt:
    return WebhookAttempt(
        id=uuid.uuid4(),
        account_id=delivery.account_id,
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        attempted_at=outcome.attempted_at,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        succeeded=outcome.succeeded,
        response_excerpt=outcome.excerpt,
        error=(outcome.error or "")[:500] or None,
    )


def _apply(
    delivery: WebhookDelivery, outcome: Outcome, now: datetime, settings: Settings
) -> Verdict:
    """Move the delivery on by one attempt; the verdict."""
    delivery.attempts += 1
    delivery.last_attempt_at = outcome.attempted_at
    delivery.last_status_code = outcome.status_code
    delivery.last_error = (outcome.error or "")[:500] or None
    result, delay = verdict(outcome, delivery.attempts, settings)
    if result == "succeeded":
        delivery.status = "succeeded"
        delivery.delivered_at = outcome.attempted_at
        delivery.next_attempt_at = None
    elif result == "retry":
        assert delay is not None
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    else:
        delivery.status = "failed"
        delivery.next_attempt_at = None
    return result


def record(session: Session, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Record attempts (one row each) and move their deliveries and endpoints on."""
    settings = get_settings()
    locked = repo.lock_deliveries(session, [o.delivery_id for o in outcomes])
    healthy: set[uuid.UUID] = set()
    failing: dict[uuid.UUID, datetime] = {}
    gone: set[uuid.UUID] = set()
    for outcome in sorted(outcomes, key=lambda o: o.delivery_id):
        delivery = locked.get(outcome.delivery_id)
        if delivery is None:
            continue  # deleted with its endpoint meanwhile
        session.add(_attempt_row(delivery, outcome))
        if delivery.status != "pending":
            continue  # a redelivery raced this attempt; the attempt is still on record
        result = _apply(delivery, outcome, now, settings)
        if result == "succeeded":
            healthy.add(delivery.webhook_id)
        else:
            failing.setdefault(delivery.webhook_id, outcome.attempted_at)
            if result == "gone":
                gone.add(delivery.webhook_id)
    session.flush()
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
