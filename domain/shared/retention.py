"""Retention: which rows of the tables that only grow are old enough to delete, in batches.

One rule per table (docs/retention.md says what each keeps and why). A batch is one
`DELETE ... WHERE id IN (SELECT id ... ORDER BY age LIMIT n FOR UPDATE SKIP LOCKED)`: the
oldest rows first, never a row another transaction holds, and a transaction as short as
the batch. The beat task (workers/tasks/retention.py) runs batches until a table is trimmed
or its budget for the run is spent.

This module reads other contexts' tables directly, as domain/models.py does: it is
maintenance of storage, not business, and no context calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.orm import Session

from domain.accounts.models import RefreshToken
from domain.integrations.models import IntegrationSyncLog
from domain.integrations.webhooks.models import WebhookAttempt, WebhookDelivery
from domain.jobs.models import JOB_STATUSES, Job, OutboxMessage
from domain.orders.models import StripeEvent
from domain.shared.idempotency import IdempotencyRecord
from domain.shared.settings import Settings

FINISHED_JOB_STATUSES = tuple(s for s in JOB_STATUSES if s in ("succeeded", "failed"))


@dataclass(frozen=True)
class Rule:
    """Rows of model matching `old` may go, oldest (by `age`) first."""

    model: Any
    age: Any
    old: ColumnElement[bool]


def rules(settings: Settings, now: datetime) -> dict[str, Rule]:
    """Each table's rule as of now."""

    def days(n: int) -> datetime:
        return now - timedelta(days=n)

    return {
        # Published messages are a transport record; the job row is the truth. Unpublished
        # ones are work still to send, whatever their age.
        "outbox_messages": Rule(
            OutboxMessage,
            OutboxMessage.published_at,
            OutboxMessage.published_at < days(settings.outbox_retention_days),
        ),
        # An inbox row is what recognises a redelivery: kept well past Stripe's 3 days of
        # retries. An event not marked processed is kept for a look.
        "stripe_events": Rule(
            StripeEvent,
            StripeEvent.received_at,
            and_(
                StripeEvent.processed_at.is_not(None),
                StripeEvent.received_at < days(settings.stripe_events_retention_days),
            ),
        ),
        # Finished jobs only (a finished job's updated_at is when it finished, or later).
        "jobs": Rule(
            Job,
            Job.updated_at,
            and_(
                Job.status.in_(FINISHED_JOB_STATUSES),
                Job.updated_at < days(settings.jobs_retention_days),
            ),
        ),
        "refresh_tokens": Rule(
            RefreshToken,
            RefreshToken.expires_at,
            RefreshToken.expires_at < days(settings.refresh_tokens_retention_days),
        ),
        # What each email-provider sync did: contact ids and counts, kept for a look back.
        "integration_sync_logs": Rule(
            IntegrationSyncLog,
            IntegrationSyncLog.started_at,
            IntegrationSyncLog.started_at < days(settings.integration_sync_logs_retention_days),
        ),
        # Expired keys are forgotten at once: begin() ignores them already.
        "idempotency_keys": Rule(
            IdempotencyRecord, IdempotencyRecord.expires_at, IdempotencyRecord.expires_at <= now
        ),
        # Finished webhook deliveries (their attempts go with them); a pending one is still
        # work, whatever its age. Attempts are trimmed by age on their own too (a delivery
        # redelivered for months would otherwise keep every try).
        "webhook_deliveries": Rule(
            WebhookDelivery,
            WebhookDelivery.created_at,
            and_(
                WebhookDelivery.status.in_(("succeeded", "failed")),
                WebhookDelivery.created_at < days(settings.webhook_deliveries_retention_days),
            ),
        ),
        "webhook_attempts": Rule(
            WebhookAttempt,
            WebhookAttempt.attempted_at,
            WebhookAttempt.attempted_at < days(settings.webhook_deliveries_retention_days),
        ),
    }


TABLES = (
    "outbox_messages",
    "stripe_events",
    "jobs",
    "refresh_tokens",
    "idempotency_keys",
    "integration_sync_logs",
    "webhook_deliveries",
    "webhook_attempts",
)


def delete_batch(session: Session, rule: Rule, *, limit: int) -> int:
    """Delete up to limit of the oldest rows the rule matches; how many went."""
    model = rule.model
    batch = (
        select(model.id)
        .where(rule.old)
        .order_by(rule.age)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(
        delete(model).where(model.id.in_(batch)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
