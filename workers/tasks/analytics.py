"""The analytics tasks: drain the events stream into PostgreSQL, keep the monthly partitions."""

from __future__ import annotations

import logging
from typing import Any

import redis

from domain.analytics import drain as draining
from domain.analytics import partitions
from domain.analytics.task_names import DRAIN, MAINTAIN_PARTITIONS
from domain.jobs.queues import queue_for
from domain.shared.db import unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name=DRAIN, queue=queue_for(DRAIN))
def drain() -> dict[str, Any]:
    """Drain the stream until it is empty or ANALYTICS_DRAIN_RUN_SECONDS have passed.

    Beat starts one every second; runs that overlap share the backlog through the group.
    Redis or PostgreSQL down: the run ends, its entries stay pending, a later run goes on.
    """
    client = draining.client()
    try:
        result = draining.run(
            client, draining.consumer_name(), seconds=get_settings().analytics_drain_run_seconds
        )
    except redis.ConnectionError as exc:
        log.warning("analytics drain: Redis unavailable (%s); the next run goes on", exc)
        return {"error": "redis unavailable"}
    return result.summary()


@celery_app.task(name=MAINTAIN_PARTITIONS, queue=queue_for(MAINTAIN_PARTITIONS))
def maintain_partitions() -> dict[str, Any]:
    """Make the monthly partitions ahead and drop those past retention (one run at a time)."""
    with unit_of_work() as session:
        if not try_xact_lock(session, MAINTAIN_PARTITIONS):
            return {"skipped": 1}
        done = partitions.maintain(
            session, utcnow(), retention_months=get_settings().analytics_events_retention_months
        )
    return {
        "created": done.created,
        "dropped": done.dropped,
        "default_rows_deleted": done.default_rows_deleted,
    }
