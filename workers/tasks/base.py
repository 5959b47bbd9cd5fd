"""The task wrapper: a job runs in its own unit of work, exactly once in effect, with retries.

1. A short transaction marks the job running and counts the attempt.
2. The work runs in a second transaction that holds the job's row lock, and commits its
   changes together with the job's result: a duplicate delivery finds the job locked or
   finished and does nothing. A body that raises NotYet commits what it did and looks
   again later on the wait schedule, spending no attempt.
3. On failure the work is rolled back; a retryable failure puts the job back in the queue
   after the wait its kind of work's schedule sets (domain/jobs/schedules.py); a final one,
   or a spent schedule, marks it failed and lets the task put its business object in a
   final state (on_failure) in the same transaction.
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
from domain.shared.remote import NotYet, RemoteError, RetryableRemoteError, classify_exception
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

JobBody = Callable[[Session, Job], dict[str, Any] | None]
# Puts the job's business object in a final state when the job fails for good.
OnFailure = Callable[[Session, Job], None]


def _classify(exc: Exception) -> RemoteError:
    """Database outages are worth waiting out; the rest is classified as a remote failure."""
    if isinstance(exc, OperationalError | InterfaceError):
        return RetryableRemoteError(f"database unavailable: {exc.__class__.__name__}")
    return classify_exception(exc)


def _attempt(job_id: uuid.UUID, body: JobBody) -> float | RemoteError | None:
    """Run the body once: None when done, the wait's seconds after NotYet, or the error."""
    try:
        with unit_of_work() as session:
            job = jobs.lock_for_run(session, job_id)
            if job is None:
                return None
            try:
                jobs.succeed(job, body(session, job))
                return None
            except NotYet as exc:
                delay = jobs.wait(job)
                if exc.delay_seconds is not None:
                    delay = exc.delay_seconds
                jobs.schedule_retry(session, job, f"waiting: {exc}", delay_seconds=delay)
                return delay
    except Exception as exc:
        error = _classify(exc)
        log.warning("job %s failed: %s", job_id, error, exc_info=not isinstance(exc, RemoteError))
        return error


def run_job(
    task: Task[Any, Any], job_id: uuid.UUID, body: JobBody, on_failure: OnFailure | None = None
) -> None:
    """Run body for the job once in effect, recording its state; retry, wait or fail."""
    with unit_of_work() as session:
        if jobs.start_attempt(session, job_id) is None:
            return  # finished already, or another worker is on it
    outcome = _attempt(job_id, body)
    if outcome is None:
        return
    if isinstance(outcome, float):
        delay: float = outcome
    else:
        with unit_of_work() as session:
            job = jobs.lock_unfinished(session, job_id)
            if job is None:
                return
            next_delay = (
                jobs.next_retry_delay(job, outcome.retry_after) if outcome.retryable else None
            )
            if next_delay is None:
                spent = f" (gave up after {job.attempts} attempts)" if outcome.retryable else ""
                jobs.fail(job, f"{outcome}{spent}")
                if on_failure is not None:
                    on_failure(session, job)
                return
            delay = next_delay
            jobs.schedule_retry(session, job, str(outcome), delay_seconds=delay)
    if delay <= get_settings().celery_max_countdown_seconds:
        # A short wait is a Celery countdown; a longer one is the outbox row written above.
        raise task.retry(countdown=delay, max_retries=None)


# Every job task's body and failure hook by task name: what the in-process runner of the
# simulated-time tests calls, and one place that lists the job tasks.
JOB_TASKS: dict[str, tuple[JobBody, OnFailure | None]] = {}


def job_task(
    name: str, *, on_failure: OnFailure | None = None
) -> Callable[[JobBody], Task[Any, Any]]:
    """Register body as the Celery task 'name' ('<context>.<verb>'), taking a job id."""

    def register(body: JobBody) -> Task[Any, Any]:
        JOB_TASKS[name] = (body, on_failure)

        @celery_app.task(name=name, bind=True, queue=queue_for(name), max_retries=None)
        def run(self: Task[Any, Any], /, job_id: str, **_arguments: Any) -> None:
            # The arguments travel in the message for operators (Flower); the job row is the truth.
            run_job(self, uuid.UUID(job_id), body, on_failure)

        return run

    return register
