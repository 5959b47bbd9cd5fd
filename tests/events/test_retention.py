"""Retention: events past EVENTS_RETENTION_DAYS that every consumer has read are deleted;
the table stays append-only for everything else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from domain.events import feed
from domain.shared.db import unit_of_work, utcnow
from domain.shared.events import DomainEvent
from domain.shared.settings import get_settings
from tests.support.feed import record_fed
from workers.tasks.events import drain, purge


def _existing(ids: list[int]) -> set[int]:
    """Which of these events are still in the table."""
    with unit_of_work() as session:
        return set(session.scalars(select(DomainEvent.id).where(DomainEvent.id.in_(ids))))


def test_old_events_go_once_every_consumer_has_read_them(
    tenant: Any, fed_consumer: feed.Consumer
) -> None:
    days = get_settings().events_retention_days
    with freeze_time(utcnow() - timedelta(days=days, hours=1)), unit_of_work() as session:
        old = [record_fed(session, tenant.account_id, seq).id for seq in range(3)]
    with unit_of_work() as session:
        young = record_fed(session, tenant.account_id, 3).id

    purge()  # fed_consumer has not read them yet
    assert _existing([*old, young]) == {*old, young}

    drain()  # every consumer of this process reads them
    assert purge()["deleted"] >= 3
    assert _existing([*old, young]) == {young}


def test_ordinary_deletes_and_every_update_are_still_refused(db: Any, tenant: Any) -> None:
    event = record_fed(db, tenant.account_id, 1)
    delete = text("DELETE FROM domain_events WHERE id = :id")
    update = text("UPDATE domain_events SET type = 'x' WHERE id = :id")
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(delete, {"id": event.id})
    with db.begin_nested():
        db.execute(text("SELECT set_config('funnels.events_retention', 'on', true)"))
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(update, {"id": event.id})
        assert db.execute(delete, {"id": event.id}).rowcount == 1
