"""Periodic platform tasks: the outbox sweep and the idempotency-key purge."""

from __future__ import annotations

from domain.jobs import outbox
from domain.jobs import service as jobs
from domain.shared import idempotency
from domain.shared.db import unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from workers.celery_app import celery_app


@celery_app.task(name="jobs.sweep_outbox")
def sweep_outbox() -> dict[str, int]:
    """Publish what the relay missed and re-queue jobs whose message was lost."""
    settings = get_settings()
    with unit_of_work() as session:
        if not try_xact_lock(session, "jobs.sweep_outbox"):
            return {"skipped": 1}
        now = utcnow()
        requeued = jobs.requeue_stale(
            session, now=now, stale_after_seconds=settings.job_requeue_after_seconds
        )
        published = outbox.relay_due(
            session, now=now, grace_seconds=settings.outbox_relay_grace_seconds
        )
    return {"published": published, "requeued": requeued}


@celery_app.task(name="jobs.purge_idempotency_keys")
def purge_idempotency_keys() -> dict[str, int]:
    """Forget idempotency keys older than their 24 hours."""
    with unit_of_work() as session:
        if not try_xact_lock(session, "jobs.purge_idempotency_keys"):
            return {"skipped": 1}
        return {"deleted": idempotency.purge_expired(session, utcnow())}
