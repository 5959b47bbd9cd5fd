"""Gauges of the jobs context: jobs by state, and how late the outbox is."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from domain.jobs import repository as repo
from domain.shared.db import utcnow
from domain.shared.metrics import Gauge, Sample


def _jobs_by_state(session: Session) -> Iterable[Sample]:
    """One sample per (task, status) that has jobs."""
    for task, status, count in repo.count_by_task_and_status(session):
        yield (task, status), float(count)


def _outbox_due(session: Session) -> Iterable[Sample]:
    """How many messages are due and unpublished."""
    count, _ = repo.due_unpublished(session, now=utcnow())
    yield (), float(count)


def _outbox_oldest_due_age(session: Session) -> Iterable[Sample]:
    """How long the oldest of them has been due."""
    now = utcnow()
    _, oldest = repo.due_unpublished(session, now=now)
    yield (), max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


GAUGES: list[Gauge] = [
    Gauge(
        "funnels_jobs",
        "Jobs by task and status, all accounts together (failed and succeeded only grow).",
        _jobs_by_state,
        labels=("task", "status"),
        source="jobs",
    ),
    Gauge(
        "funnels_outbox_due_messages",
        "Outbox messages due for publishing and not yet published.",
        _outbox_due,
        source="outbox",
    ),
    Gauge(
        "funnels_outbox_oldest_due_age_seconds",
        "Seconds since the oldest unpublished outbox message became due (0: none).",
        _outbox_oldest_due_age,
        source="outbox",
    ),
]
