"""The analytics rollup's task: run batches until caught up (beat, every minute by default)."""

from __future__ import annotations

import logging

from domain.analytics import rollup_job
from domain.analytics.rollup_job import ROLLUP_TASK
from domain.jobs.queues import queue_for
from domain.shared.db import unit_of_work
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

# Batches per task before the worker goes back to other work; beat starts the next run.
MAX_BATCHES_PER_RUN = 20


def run(*, batch_size: int | None = None, max_batches: int = MAX_BATCHES_PER_RUN) -> dict[str, int]:
    """Roll batches until caught up, busy elsewhere, or out of budget; what was done."""
    size = batch_size or get_settings().analytics_rollup_batch_size
    totals = {"batches": 0, "read": 0, "groups": 0, "busy": 0}
    for _ in range(max_batches):
        with unit_of_work() as session:
            result = rollup_job.run_batch(session, batch_size=size)
        totals["batches"] += 1
        totals["read"] += result.read
        totals["groups"] += result.groups
        if result.status != "more":
            totals["busy"] = int(result.status == "busy")
            break
    return totals


@celery_app.task(name=ROLLUP_TASK, queue=queue_for(ROLLUP_TASK))
def rollup() -> dict[str, int]:
    """One run of the rollup; a failed batch rolls back with its watermark and is read again."""
    return run()
