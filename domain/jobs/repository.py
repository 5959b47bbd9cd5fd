"""Every query of the jobs context."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from domain.jobs.models import Job, JobStatus, OutboxMessage
from domain.shared.db import paginate
from domain.shared.schemas import PageParams


def get_job(session: Session, account_id: uuid.UUID, job_id: uuid.UUID) -> Job | None:
    """One of the account's jobs."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.account_id == account_id))


def list_jobs(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    status: JobStatus | None = None,
    task: str | None = None,
) -> tuple[list[Job], int]:
    """A page of the account's jobs, newest first."""
    stmt = select(Job).where(Job.account_id == account_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if task is not None:
        stmt = stmt.where(Job.task == task)
    return paginate(session, stmt.order_by(Job.created_at.desc(), Job.id.desc()), page)


def lock_job(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job, row-locked; None when it does not exist or another worker holds it."""
    return session.scalar(select(Job).where(Job.id == job_id).with_for_update(skip_locked=True))


def lock_stale_jobs(
    session: Session,
    *,
    updated_before: datetime,
    limit: int,
    account_ids: Collection[uuid.UUID] | None = None,
) -> list[Job]:
    """Unfinished jobs untouched for too long, with no message waiting to be published.

    Locked rows are skipped: a worker running the job holds its lock.
    """
    pending_message = exists().where(
        OutboxMessage.job_id == Job.id, OutboxMessage.published_at.is_(None)
    )
    stmt = select(Job).where(
        Job.status.in_(("queued", "running")), Job.updated_at < updated_before, ~pending_message
    )
    if account_ids is not None:
        stmt = stmt.where(Job.account_id.in_(account_ids))
    return list(
        session.scalars(
            stmt.order_by(Job.updated_at).limit(limit).with_for_update(skip_locked=True, of=Job)
        ).all()
    )


def unfinished_where(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """SQL: a queued or running job matches condition."""
    return exists().where(Job.status.in_(("queued", "running")), condition)


def count_by_task_and_status(session: Session) -> list[tuple[str, str, int]]:
    """How many jobs of every account there are per (task, status)."""
    rows = session.execute(
        select(Job.task, Job.status, func.count()).group_by(Job.task, Job.status)
    ).all()
    return [(task, status, count) for task, status, count in rows]


def due_unpublished(session: Session, *, now: datetime) -> tuple[int, datetime | None]:
    """How many outbox messages are due and unpublished, and when the oldest became due."""
    row = session.execute(
        select(func.count(), func.min(OutboxMessage.available_at)).where(
            OutboxMessage.published_at.is_(None), OutboxMessage.available_at <= now
        )
    ).one()
    return int(row[0]), row[1]
