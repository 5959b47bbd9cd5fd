"""The task wrapper: a job runs in its own unit of work, exactly once in effect, with retries.

1. A short transaction marks the job running and counts the attempt.
2. The work runs in a second transaction that holds the job's row lock, and commits its
   changes together with the job's result: a duplicate delivery finds the job locked or
   finished and does nothing.
3. On failure the work is rolled back; a retryable failure puts the job back in the queue
   (a Celery retry for waits of minutes, a due-dated outbox row for longer ones), a final
   one marks it failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.jobs.queues import queue_for
from domain.shared.db import unit_of_work
from domain.shared.remote import (
    RemoteError,
    RetryableRemoteError,
    backoff_seconds,
    classify_exception,
)
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

JobBody = Callable[[Session, Job], dict[str, Any] | None]


def _classify(exc: Exception) -> RemoteError:
    """Database outages are worth waiting out; the rest is classified as a remote failure."""
    if isinstance(exc, OperationalError | InterfaceError):
        return RetryableRemoteError(f"database unavailable: {exc.__class__.__name__}")
    return classify_exception(exc)


def run_job(task: Task[Any, Any], job_id: uuid.UUID, body: JobBody) -> None:
    """Run body for the job once in effect, recording its state; retry or fail on errors."""
    with unit_of_work() as session:
        if jobs.start_attempt(session, job_id) is None:
            return  # finished already, or another worker is on it
    try:
        with unit_of_work() as session:
            job = jobs.lock_for_run(session, job_id)
            if job is None:
                return
            jobs.succeed(job, body(session, job))
        return
    except Exception as exc:
        error = _classify(exc)
        log.warning(
            "job %s (%s) failed: %s",
            job_id,
            task.name,
            error,
            exc_info=not isinstance(exc, RemoteError),
        )

    settings = get_settings()
    with unit_of_work() as session:
        job = jobs.lock_unfinished(session, job_id)
        if job is None:
            return
        if not error.retryable or job.attempts >= job.max_attempts:
            suffix = "" if not error.retryable else f" (gave up after {job.attempts} attempts)"
            jobs.fail(job, f"{error}{suffix}")
            return
        delay = error.retry_after or backoff_seconds(
            job.attempts,
            base=settings.retry_backoff_base_seconds,
            cap=settings.retry_backoff_cap_seconds,
        )
        via_outbox = delay > settings.celery_max_countdown_seconds
        jobs.schedule_retry(session, job, str(error), delay_seconds=delay, via_outbox=via_outbox)
    if not via_outbox:
        raise task.retry(countdown=delay, max_retries=None)


def job_task(name: str) -> Callable[[JobBody], Task[Any, Any]]:
    """Register body as the Celery task 'name' ('<context>.<verb>'), taking a job id."""

    def register(body: JobBody) -> Task[Any, Any]:
        @celery_app.task(name=name, bind=True, queue=queue_for(name), max_retries=None)
        def run(self: Task[Any, Any], /, job_id: str, **_arguments: Any) -> None:
            # The arguments travel in the message for operators (Flower); the job row is the truth.
            run_job(self, uuid.UUID(job_id), body)

        return run

    return register
