"""The events feed's tasks: run the consumers (after commits and by beat), purge old events."""

from __future__ import annotations

import logging

import domain.events.consumers  # noqa: F401 - every consumer registered in this process
from domain.events import feed
from domain.events import service as events
from domain.events.feed import DRAIN_TASK, PURGE_TASK, Consumer
from domain.jobs.queues import queue_for
from domain.shared.db import unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

log = logging.getLogger(__name__)

# Batches one consumer runs per task before yielding the worker to other work; a longer
# backlog continues in a fresh task.
MAX_BATCHES_PER_RUN = 50
PURGE_CHUNK = 5000
MAX_PURGE_CHUNKS = 100


def drain_consumer(consumer: Consumer, *, max_batches: int = MAX_BATCHES_PER_RUN) -> bool:
    """Run batches of one consumer until it is caught up, busy elsewhere, failing, or has
    used its budget; True if events are left for another run."""
    batch_size = get_settings().events_batch_size
    for _ in range(max_batches):
        try:
            with unit_of_work() as session:
                batch = feed.run_batch(session, consumer, batch_size=batch_size)
        except Exception as exc:
            # The batch rolled back with the cursor: it is read again on the next run.
            log.exception("events consumer %s failed; it retries on the next run", consumer.name)
            with unit_of_work() as session:
                feed.note_failure(session, consumer.name, f"{exc.__class__.__name__}: {exc}")
            return False
        if batch.status != "more":
            return False
    return True


@celery_app.task(name=DRAIN_TASK, queue=queue_for(DRAIN_TASK))
def drain() -> dict[str, int]:
    """Run every registered consumer until caught up; a long backlog continues in a new task."""
    left = [c.name for c in feed.registered() if drain_consumer(c)]
    if left:
        try:
            drain.apply_async(queue=queue_for(DRAIN_TASK))
        except Exception:  # broker down: beat runs the consumers again
            log.warning("events: could not queue the rest of the backlog", exc_info=True)
    return {"consumers": len(feed.registered()), "left": len(left)}


@celery_app.task(name=PURGE_TASK, queue=queue_for(PURGE_TASK))
def purge() -> dict[str, int]:
    """Delete events past EVENTS_RETENTION_DAYS that every consumer has read, in chunks."""
    settings = get_settings()
    deleted = 0
    for _ in range(MAX_PURGE_CHUNKS):
        with unit_of_work() as session:
            if not try_xact_lock(session, PURGE_TASK):
                return {"skipped": 1, "deleted": deleted}
            chunk = events.purge_expired(
                session,
                now=utcnow(),
                retention_days=settings.events_retention_days,
                limit=PURGE_CHUNK,
            )
        deleted += chunk
        if chunk < PURGE_CHUNK:
            break
    return {"deleted": deleted}
