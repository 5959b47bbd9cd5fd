"""The periodic jobs: one plain dict for Celery beat. Each job is safe to run twice at once."""

from __future__ import annotations

from typing import Any

from domain.shared.settings import get_settings

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Publishes outbox messages the after-commit relay could not, and jobs whose message
    # was lost (a broker restart); the database is the source of truth.
    "sweep-outbox": {
        "task": "jobs.sweep_outbox",
        "schedule": 10.0,
        "options": {"expires": 30},
    },
    # Cancels orders left unpaid past ORDER_PAYMENT_TIMEOUT_MINUTES, their PaymentIntents too.
    "expire-unpaid-orders": {
        "task": "payments.expire_orders",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    # Trims what only grows: published outbox rows, Stripe events, finished jobs, expired
    # refresh tokens and idempotency keys (docs/retention.md); folds in the old key purge.
    "retention-purge": {
        "task": "retention.purge",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
    # Runs the events feed's consumers; after-commit wakes usually beat it to the events,
    # this catches what a lost wake or a then-running transaction held back.
    "drain-events": {
        "task": "events.drain",
        "schedule": 5.0,
        "options": {"expires": 15},
    },
    "purge-events": {
        "task": "events.purge",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
    # Analytics (docs/analytics.md): a drain every second, each going on for up to
    # ANALYTICS_DRAIN_RUN_SECONDS while there is a backlog (overlapping runs share it).
    "analytics-drain": {
        "task": "analytics.drain",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    "analytics-partitions": {
        "task": "analytics.maintain_partitions",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
    # Sends webhook deliveries that fell due (retries); new ones are woken after commit.
    "dispatch-webhooks": {
        "task": "webhooks.dispatch",
        "schedule": 2.0,
        "options": {"expires": 10},
    },
    # Rolls analytics events into funnel_step_stats (docs/analytics.md); an overlapping run
    # finds the lock taken and returns.
    "analytics-rollup": {
        "task": "analytics.rollup",
        "schedule": get_settings().analytics_rollup_interval_seconds,
        "options": {"expires": 2 * get_settings().analytics_rollup_interval_seconds},
    },
}
