"""Reading a job's state and how often its work took effect (the testing.record task)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.jobs.models import Job
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent


def load_job(job_id: uuid.UUID) -> Job:
    """The job as committed now."""
    with unit_of_work() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def effects(job_id: uuid.UUID) -> int:
    """How many times testing.record's work was committed for the job."""
    with unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(DomainEvent)
                .where(DomainEvent.subject_id == job_id)
            )
        )
