"""The state and result of async work."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, DbSession, Pagination
from domain.jobs import service as jobs
from domain.jobs.models import JobStatus
from domain.jobs.schemas import JobOut
from domain.shared.schemas import Page, page_of

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

TaskName = Annotated[
    str | None,
    Query(
        max_length=100,
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
        description="a task name, e.g. `payments.refund`",
        examples=["payments.refund"],
    ),
]


@router.get("", response_model=Page[JobOut])
def list_jobs(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    status: JobStatus | None = None,
    task: TaskName = None,
) -> Page[JobOut]:
    """The account's jobs, newest first; `?status=failed` lists the work that needs you."""
    rows, total = jobs.list_jobs(
        db, account_id=principal.account_id, page=page, status=status, task=task
    )
    return page_of(JobOut, rows, total, page)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> JobOut:
    """Poll a job: queued, running, succeeded (with its result) or failed (with its error)."""
    return JobOut.model_validate(jobs.get_job(db, principal.account_id, job_id))
