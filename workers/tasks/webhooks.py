"""Webhooks tasks: the dispatcher (woken after commits and by beat), test messages, recovery."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

import domain.events.consumers  # noqa: F401 - the webhooks consumer registered in this process
from domain.integrations.webhooks import dispatcher
from domain.integrations.webhooks import service as webhooks
from domain.integrations.webhooks.task_names import DISPATCH, RECOVER, SEND_TEST
from domain.jobs.models import Job
from domain.jobs.queues import queue_for
from workers.celery_app import celery_app
from workers.tasks.base import job_task

# A run sends until nothing is due, for at most this long (beat starts the next one).
DISPATCH_BUDGET_SECONDS = 50.0


@celery_app.task(name=DISPATCH, queue=queue_for(DISPATCH))
def dispatch() -> dict[str, int]:
    """Send every due delivery, many at once; safe to run beside other dispatchers."""
    run = dispatcher.run_sync(budget_seconds=DISPATCH_BUDGET_SECONDS)
    return {"sent": run.sent, "succeeded": run.succeeded}


@job_task(SEND_TEST)
def send_test(session: Session, job: Job) -> dict[str, Any]:
    """Queue a test message to the endpoint."""
    return webhooks.send_test(session, job)


@job_task(RECOVER)
def recover(session: Session, job: Job) -> dict[str, Any]:
    """Resend the endpoint's failed deliveries in the asked range."""
    return webhooks.recover(session, job)
