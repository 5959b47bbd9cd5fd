"""The state and result of async work."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentPrincipal, DbSession
from domain.jobs import service as jobs
from domain.jobs.schemas import JobOut

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> JobOut:
    """Poll a job: queued, running, succeeded (with its result) or failed (with its error)."""
    return JobOut.model_validate(jobs.get_job(db, principal.account_id, job_id))
