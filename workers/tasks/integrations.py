"""Email-provider integration tasks: test a connection, sync, push a few contacts, erase."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from domain.integrations import sync, task_names
from domain.jobs.models import Job
from workers.tasks.base import job_task


@job_task(task_names.TEST, on_failure=sync.mark_failed)
def test_connection(session: Session, job: Job) -> dict[str, Any]:
    """Check the credentials and the list with the provider."""
    return sync.run_test(session, job)


@job_task(task_names.SYNC, on_failure=sync.mark_failed)
def sync_contacts(session: Session, job: Job) -> dict[str, Any]:
    """Push every consenting contact changed since it was last pushed."""
    return sync.run_sync(session, job)


@job_task(task_names.PUSH, on_failure=sync.mark_failed)
def push_contacts(session: Session, job: Job) -> dict[str, Any]:
    """Push the job's named contacts (new opt-ins and buyers)."""
    return sync.run_sync(session, job)


@job_task(task_names.ERASE)
def erase_contact(session: Session, job: Job) -> dict[str, Any]:
    """Delete one person at one provider."""
    return sync.run_erase(session, job)
