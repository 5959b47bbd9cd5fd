"""Retention: tables that only grow are trimmed on beat, each by its own period, in batches."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from beat_schedule import BEAT_SCHEDULE
from domain.accounts.models import AuthSession, RefreshToken
from domain.integrations import crypto
from domain.integrations.models import Integration, IntegrationSyncLog
from domain.integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from domain.jobs import service as jobs
from domain.jobs.models import Job, OutboxMessage
from domain.orders.models import StripeEvent
from domain.shared.db import get_sessionmaker, unit_of_work, utcnow
from domain.shared.idempotency import IdempotencyRecord
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from workers.celery_app import celery_app
from workers.tasks import retention

DAY = timedelta(days=1)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings re-read from the environment (a test may change it)."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _job(account_id: uuid.UUID, status: str, age: timedelta) -> uuid.UUID:
    """A job in a status, last touched `age` ago; its outbox message published then."""
    with unit_of_work() as session:
        job = jobs.enqueue(session, account_id=account_id, task="tests.record")
        job_id = job.id
    at = utcnow() - age
    with unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=status,
                created_at=at,
                updated_at=at,
                finished_at=at if status in ("succeeded", "failed") else None,
            )
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.job_id == job_id)
            .values(created_at=at, available_at=at, published_at=at)
        )
    return job_id


def _message(job_id: uuid.UUID, *, age: timedelta, published: bool) -> uuid.UUID:
    """An extra outbox message of a job, created `age` ago, published then or not at all."""
    at = utcnow() - age
    message_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            OutboxMessage(
                id=message_id,
                job_id=job_id,
                task="tests.record",
                queue="default",
                kwargs={"job_id": str(job_id)},
                created_at=at,
                available_at=at,
                published_at=at if published else None,
            )
        )
    return message_id


def _stripe_event(age: timedelta) -> str:
    event_id = "evt_" + secrets.token_hex(12)
    at = utcnow() - age
    with unit_of_work() as session:
        session.add(
            StripeEvent(
                id=event_id, type="charge.succeeded", payload={}, received_at=at, processed_at=at
            )
        )
    return event_id


def _refresh_token(user_id: uuid.UUID, expired_for: timedelta) -> uuid.UUID:
    with unit_of_work() as session:
        login = session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)).first()
        assert login is not None
        token = RefreshToken(
            id=uuid.uuid4(),
            account_id=login.account_id,
            session_id=login.id,
            token_hash=secrets.token_hex(32),
            created_at=utcnow() - expired_for - 30 * DAY,
            expires_at=utcnow() - expired_for,
        )
        session.add(token)
        return token.id


def _idempotency_key(account_id: uuid.UUID, expires_in: timedelta) -> uuid.UUID:
    with unit_of_work() as session:
        record = IdempotencyRecord(
            id=uuid.uuid4(),
            account_id=account_id,
            scope="merchant",
            key=secrets.token_hex(8),
            fingerprint="0" * 64,
            response_status=200,
            response_body={},
            created_at=utcnow() - DAY,
            expires_at=utcnow() + expires_in,
        )
        session.add(record)
        return record.id


def _sync_log(account_id: uuid.UUID, age: timedelta) -> uuid.UUID:
    """An email-provider sync log of a run started `age` ago."""
    at = utcnow() - age
    with unit_of_work() as session:
        integration = Integration(
            id=uuid.uuid4(),
            account_id=account_id,
            provider="sendgrid",
            name="sendgrid",
            credentials_encrypted=crypto.encrypt({}),  # readable: a key rotation reads every row
            settings={},
            status="connected",
        )
        session.add(integration)
        log = IntegrationSyncLog(
            id=uuid.uuid4(),
            account_id=account_id,
            integration_id=integration.id,
            trigger="manual",
            status="succeeded",
            started_at=at,
            finished_at=at,
        )
        session.add(log)
        return log.id
def _delivery(account_id: uuid.UUID, status: str, age: timedelta) -> tuple[uuid.UUID, uuid.UUID]:
    """A webhook delivery in a status created `age` ago, with one attempt made then."""
    at = utcnow() - age
    with unit_of_work() as session:
        webhook = Webhook(
            account_id=account_id,
            url="https://8.8.8.8/",
            event_types=["order.paid"],
            secret=crypto.encrypt_text("whsec_retention"),
        )
        session.add(webhook)
        session.flush()
        delivery = WebhookDelivery(
            account_id=account_id,
            webhook_id=webhook.id,
            event_type="order.paid",
            body="{}",
            status=status,
            next_attempt_at=at if status == "pending" else None,
            created_at=at,
            updated_at=at,
        )
        session.add(delivery)
        session.flush()
        attempt = WebhookAttempt(
            account_id=account_id,
            delivery_id=delivery.id,
            webhook_id=webhook.id,
            attempted_at=at,
            duration_ms=1,
            succeeded=status == "succeeded",
        )
        session.add(attempt)
        session.flush()
        return delivery.id, attempt.id


def _exists(model: Any, key: Any) -> bool:
    with unit_of_work() as session:
        return session.get(model, key) is not None


def test_rows_past_their_period_go_and_the_rest_stay(tenant: Any) -> None:
    s = get_settings()
    a = tenant.account_id
    done_long_ago = _job(a, "succeeded", (s.jobs_retention_days + 1) * DAY)
    failed_long_ago = _job(a, "failed", (s.jobs_retention_days + 1) * DAY)
    done_recently = _job(a, "succeeded", (s.jobs_retention_days - 1) * DAY)
    queued_for_ever = _job(a, "queued", 10 * s.jobs_retention_days * DAY)
    running_for_ever = _job(a, "running", 10 * s.jobs_retention_days * DAY)
    keep_days = s.outbox_retention_days
    old_published = _message(queued_for_ever, age=(keep_days + 1) * DAY, published=True)
    new_published = _message(queued_for_ever, age=(keep_days - 1) * DAY, published=True)
    old_unpublished = _message(queued_for_ever, age=365 * DAY, published=False)
    old_event = _stripe_event((s.stripe_events_retention_days + 1) * DAY)
    new_event = _stripe_event((s.stripe_events_retention_days - 1) * DAY)
    long_expired = _refresh_token(tenant.user_id, (s.refresh_tokens_retention_days + 1) * DAY)
    just_expired = _refresh_token(tenant.user_id, (s.refresh_tokens_retention_days - 1) * DAY)
    expired_key = _idempotency_key(a, -timedelta(minutes=1))
    live_key = _idempotency_key(a, timedelta(hours=1))
    log_days = s.integration_sync_logs_retention_days
    old_log = _sync_log(a, (log_days + 1) * DAY)
    new_log = _sync_log(a, (log_days - 1) * DAY)
    hook_days = (s.webhook_deliveries_retention_days + 1) * DAY
    delivered_long_ago, _ = _delivery(a, "succeeded", hook_days)
    failed_recently, _ = _delivery(a, "failed", (s.webhook_deliveries_retention_days - 1) * DAY)
    # Still pending however old (an endpoint's backlog): kept; its old attempt goes.
    pending_long_ago, old_attempt = _delivery(a, "pending", hook_days)

    result = retention.purge()

    assert all(result[name] >= 1 for name in retention.TABLES), result
    gone = [
        (Job, done_long_ago),
        (Job, failed_long_ago),
        (OutboxMessage, old_published),
        (StripeEvent, old_event),
        (RefreshToken, long_expired),
        (IdempotencyRecord, expired_key),
        (IntegrationSyncLog, old_log),
        (WebhookDelivery, delivered_long_ago),
        (WebhookAttempt, old_attempt),
    ]
    kept = [
        (Job, done_recently),
        (Job, queued_for_ever),
        (Job, running_for_ever),
        (OutboxMessage, new_published),
        (OutboxMessage, old_unpublished),
        (StripeEvent, new_event),
        (RefreshToken, just_expired),
        (IdempotencyRecord, live_key),
        (IntegrationSyncLog, new_log),
        (WebhookDelivery, failed_recently),
        (WebhookDelivery, pending_long_ago),
    ]
    try:
        assert [(m.__name__, k) for m, k in gone if _exists(m, k)] == []
        assert [(m.__name__, k) for m, k in kept if not _exists(m, k)] == []
    finally:
        # Rows aged by hand would look stale or overdue to other tests' sweeps and gauges.
        with unit_of_work() as session:
            for model, key in kept:
                found = session.get(model, key)
                if found is not None:
                    session.delete(found)


def test_each_run_deletes_at_most_its_batches_oldest_first(tenant: Any, settings: Any) -> None:
    settings.setenv("RETENTION_BATCH_SIZE", "2")
    settings.setenv("RETENTION_MAX_BATCHES", "1")
    ancient = [_stripe_event(timedelta(days=3650 + i)) for i in range(3)]
    assert retention.purge()["stripe_events"] == 2
    # The two oldest went first; the third waits for the next run.
    assert [_exists(StripeEvent, e) for e in ancient] == [True, False, False]
    retention.purge()
    assert not _exists(StripeEvent, ancient[0])


def test_a_run_skips_a_table_another_run_is_trimming(tenant: Any) -> None:
    old = _stripe_event(timedelta(days=3650))
    holder = get_sessionmaker()()
    try:
        assert try_xact_lock(holder, retention.PURGE, "stripe_events")
        assert retention.purge()["stripe_events"] == 0
        assert _exists(StripeEvent, old)
    finally:
        holder.rollback()
        holder.close()
    retention.purge()
    assert not _exists(StripeEvent, old)


def test_beat_runs_it_hourly_and_the_worker_knows_it() -> None:
    entries = [e for e in BEAT_SCHEDULE.values() if e["task"] == retention.PURGE]
    assert len(entries) == 1
    assert entries[0]["schedule"] == 3600.0
    assert retention.PURGE in celery_app.tasks
    assert "workers.tasks.retention" in celery_app.conf.include


def test_the_defaults_outlive_what_they_protect() -> None:
    s = get_settings()
    # Stripe retries a webhook for up to 3 days: a redelivery must still find its inbox row.
    assert s.stripe_events_retention_days > 3
    assert s.outbox_retention_days >= 1
    assert s.jobs_retention_days >= 7
