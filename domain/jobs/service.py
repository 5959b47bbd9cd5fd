"""Use cases of the jobs context: enqueue work, run it exactly once in effect, sweep."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, String, cast
from sqlalchemy.orm import Session

from domain.jobs import outbox, schedules
from domain.jobs import repository as repo
from domain.jobs.models import Job, JobStatus, OutboxMessage
from domain.jobs.queues import queue_for
from domain.shared.db import utcnow
from domain.shared.errors import NotFound
from domain.shared.schemas import PageParams
from domain.shared.settings import get_settings

TERMINAL = ("succeeded", "failed")


def _message(job: Job, delay_seconds: float = 0) -> OutboxMessage:
    now = utcnow()
    return OutboxMessage(
        id=uuid.uuid4(),
        job_id=job.id,
        task=job.task,
        queue=job.queue,
        kwargs={"job_id": str(job.id), **job.arguments},
        created_at=now,
        available_at=now + timedelta(seconds=delay_seconds),
    )


def enqueue(
    session: Session,
    *,
    account_id: uuid.UUID,
    task: str,
    arguments: dict[str, Any] | None = None,
    max_attempts: int | None = None,
    delay_seconds: float = 0,
) -> Job:
    """Ask for async work: a job row and its outbox message, in the caller's transaction."""
    now = utcnow()
    queue = queue_for(task)
    job = Job(
        id=uuid.uuid4(),
        account_id=account_id,
        task=task,
        queue=queue,
        status="queued",
        arguments=arguments or {},
        attempts=0,
        max_attempts=max_attempts or schedules.max_attempts(queue),
        waits=0,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()  # the message references the job
    outbox.add(session, _message(job, delay_seconds))
    return job


def get_job(session: Session, account_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """One of the account's jobs, or 404."""
    job = repo.get_job(session, account_id, job_id)
    if job is None:
        raise NotFound("Job not found")
    return job


def list_jobs(
    session: Session,
    *,
    account_id: uuid.UUID,
    page: PageParams,
    status: JobStatus | None = None,
    task: str | None = None,
) -> tuple[list[Job], int]:
    """A page of the account's jobs, newest first, optionally one status or one task."""
    return repo.list_jobs(session, account_id, page, status=status, task=task)


def start_attempt(session: Session, job_id: uuid.UUID) -> Job | None:
    """Mark the job running and count the attempt; None if there is nothing to run now."""
    job = repo.lock_job(session, job_id)
    if job is None or job.status in TERMINAL:
        return None
    job.status = "running"
    job.attempts += 1
    job.started_at = job.started_at or utcnow()
    return job


def lock_for_run(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job locked for this run; None when done already or another worker holds it."""
    job = repo.lock_job(session, job_id)
    if job is None or job.status in TERMINAL:
        return None
    return job


def succeed(job: Job, result: dict[str, Any] | None) -> None:
    """Record the result (in the same transaction as the work's own changes)."""
    job.status = "succeeded"
    job.result = result
    job.error = None
    job.next_attempt_at = None
    job.finished_at = utcnow()


def lock_unfinished(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job locked (waiting for its lock), unless it is finished or gone."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status in TERMINAL:
        return None
    return job


def fail(job: Job, error: str) -> None:
    """Record a final failure."""
    job.status = "failed"
    job.error = error[:4000]
    job.next_attempt_at = None
    job.finished_at = utcnow()


def next_retry_delay(job: Job, retry_after: float | None = None) -> float | None:
    """Seconds until the job's next attempt after a retryable failure; None when spent.

    The wait comes from the schedule of the job's kind of work; a remote's Retry-After
    can only lengthen it.
    """
    if job.attempts >= job.max_attempts:
        return None
    delay = schedules.retry_delay(job.queue, job.attempts)
    if delay is None:
        return None
    return max(delay, retry_after or 0.0)


def wait(job: Job) -> float:
    """Look again later at something expected: the attempt is given back; the wait's seconds."""
    job.attempts = max(0, job.attempts - 1)
    delay = schedules.wait_delay(job.waits)
    job.waits += 1
    return delay


def schedule_retry(session: Session, job: Job, reason: str, *, delay_seconds: float) -> None:
    """Put the job back in the queue to run again in delay_seconds.

    Waits longer than CELERY_MAX_COUNTDOWN_SECONDS become due-dated outbox rows, swept by
    beat; shorter ones are Celery countdowns that the task wrapper sends, and the stale-job
    sweep covers a countdown lost with its worker.
    """
    job.status = "queued"
    job.error = reason[:4000]
    job.next_attempt_at = utcnow() + timedelta(seconds=delay_seconds)
    if delay_seconds > get_settings().celery_max_countdown_seconds:
        outbox.add(session, _message(job, delay_seconds))


def unfinished(job_id: ColumnExpressionArgument[Any]) -> ColumnElement[bool]:
    """SQL: the job with this id is queued or running (something will still move its object)."""
    return repo.unfinished_where(Job.id == job_id)


def unfinished_about(argument: str, value: ColumnExpressionArgument[Any]) -> ColumnElement[bool]:
    """SQL: a queued or running job names this value as one of its arguments."""
    return repo.unfinished_where(Job.arguments[argument].astext == cast(value, String))


def requeue_stale(
    session: Session,
    *,
    now: datetime,
    stale_after_seconds: float,
    limit: int = 500,
    account_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Publish again the jobs whose message was lost (e.g. a broker restart); how many."""
    jobs = repo.lock_stale_jobs(
        session,
        updated_before=now - timedelta(seconds=stale_after_seconds),
        limit=limit,
        account_ids=account_ids,
    )
    for job in jobs:
        job.updated_at = now
        outbox.add(session, _message(job))
    return len(jobs)
