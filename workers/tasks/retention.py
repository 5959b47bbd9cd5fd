"""The retention task: trims the tables that only grow, table by table, in short batches."""

from __future__ import annotations

from domain.shared import retention
from domain.shared.db import unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from workers.celery_app import celery_app

PURGE = "retention.purge"
TABLES = retention.TABLES


def _trim(table: str) -> int:
    """Delete one table's old rows, a batch per transaction, within the run's budget."""
    settings = get_settings()
    rule = retention.rules(settings, utcnow())[table]
    deleted = 0
    for _ in range(settings.retention_max_batches):
        with unit_of_work() as session:
            # One trimmer per table at a time; a run that finds it busy leaves it.
            if not try_xact_lock(session, PURGE, table):
                break
            count = retention.delete_batch(session, rule, limit=settings.retention_batch_size)
        deleted += count
        if count < settings.retention_batch_size:
            break
    return deleted


@celery_app.task(name=PURGE)
def purge() -> dict[str, int]:
    """Delete what each table keeps no longer (docs/retention.md); rows deleted per table."""
    return {table: _trim(table) for table in TABLES}
