"""The feed: commit-safe order, one cursor per consumer, effect and cursor in one commit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from domain.events import feed, service
from domain.events.feed import DRAIN_TASK
from domain.events.models import EventConsumer
from domain.jobs import outbox
from domain.shared.db import get_sessionmaker, unit_of_work
from domain.shared.events import DomainEvent
from domain.shared.locks import try_xact_lock
from tests.support.feed import (
    FED,
    create_effects_table,
    effect_writer,
    effects,
    forget_cursors,
    record_fed,
    start_cursors,
)
from workers.tasks.events import drain_consumer


@pytest.mark.parametrize("later_id_has_older_transaction", [True, False])
def test_writers_committing_out_of_order_are_each_delivered_once(
    tenant: Any, fed_consumer: feed.Consumer, later_id_has_older_transaction: bool
) -> None:
    """Two writers on their own connections; the one holding the later id commits first,
    the consumer runs, then the other commits and the consumer runs again."""
    maker = get_sessionmaker()
    earlier_id, later_id = maker(), maker()
    try:
        if later_id_has_older_transaction:
            # Its transaction id is taken first, its event id last: a cursor moved past its
            # event must still find the other one.
            earlier_id.connection()  # both begin now
            later_id.execute(text("SELECT pg_current_xact_id()"))
        first = record_fed(earlier_id, tenant.account_id, 1)
        second = record_fed(later_id, tenant.account_id, 2)
        assert first.id < second.id
        later_id.commit()

        drain_consumer(fed_consumer)
        seen = effects(fed_consumer.name, [first.id, second.id])
        # Delivered now only if no transaction below it is still running.
        assert seen == {first.id: 0, second.id: 1 if later_id_has_older_transaction else 0}

        earlier_id.commit()
        drain_consumer(fed_consumer)
    finally:
        earlier_id.close()
        later_id.close()
    assert effects(fed_consumer.name, [first.id, second.id]) == {first.id: 1, second.id: 1}
    drain_consumer(fed_consumer)
    assert effects(fed_consumer.name, [first.id, second.id]) == {first.id: 1, second.id: 1}


def test_a_rolled_back_writer_holds_nothing_up(tenant: Any, fed_consumer: feed.Consumer) -> None:
    maker = get_sessionmaker()
    lost, kept = maker(), maker()
    try:
        gone = record_fed(lost, tenant.account_id, 1)
        stays = record_fed(kept, tenant.account_id, 2)
        kept.commit()
        lost.rollback()
    finally:
        lost.close()
        kept.close()
    drain_consumer(fed_consumer)
    assert effects(fed_consumer.name, [gone.id, stays.id]) == {gone.id: 0, stays.id: 1}


def _record(account_id: Any, count: int) -> list[int]:
    """Commit count testing.fed events; their ids."""
    with unit_of_work() as session:
        return [record_fed(session, account_id, seq).id for seq in range(count)]


def test_batches_hand_every_event_once_in_feed_order(tenant: Any) -> None:
    create_effects_table()
    name = "testing.batches"
    start_cursors([name])
    seen: list[list[int]] = []
    writer = effect_writer(name)

    def handle(session: Any, batch: list[Any]) -> None:
        seen.append([event.id for event in batch])
        writer(session, batch)

    consumer = feed.register(name, handle, types=[FED], batch_size=2)
    try:
        ids = _record(tenant.account_id, 5)
        assert drain_consumer(consumer, max_batches=2)  # out of budget: more is left
        assert drain_consumer(consumer) is False
    finally:
        feed.unregister(name)
        forget_cursors([name])
    assert [i for batch in seen for i in batch] == ids
    assert all(len(batch) <= 2 for batch in seen)
    assert effects(name, ids) == dict.fromkeys(ids, 1)


def test_a_failing_handler_keeps_its_cursor_and_says_why(tenant: Any) -> None:
    create_effects_table()
    name = "testing.flaky"
    start_cursors([name])
    writer = effect_writer(name)
    failures = [RuntimeError("downstream said no")]

    def handle(session: Any, batch: list[Any]) -> None:
        writer(session, batch)  # rolled back with the failed batch
        if failures:
            raise failures.pop()

    consumer = feed.register(name, handle, types=[FED])
    try:
        ids = _record(tenant.account_id, 3)
        assert drain_consumer(consumer) is False
        assert effects(name, ids) == dict.fromkeys(ids, 0)
        with unit_of_work() as session:
            cursor = session.get(EventConsumer, name)
            assert cursor is not None
            assert cursor.last_error == "RuntimeError: downstream said no"
            assert cursor.last_error_at is not None
            assert service.consumer_lags(session)[name] >= 3

        drain_consumer(consumer)
        assert effects(name, ids) == dict.fromkeys(ids, 1)
        with unit_of_work() as session:
            cursor = session.get(EventConsumer, name)
            assert cursor is not None
            assert cursor.last_error is None
            assert service.consumer_lags(session)[name] == 0
    finally:
        feed.unregister(name)
        forget_cursors([name])


def test_one_runner_per_consumer_at_a_time(tenant: Any, fed_consumer: feed.Consumer) -> None:
    ids = _record(tenant.account_id, 2)
    with unit_of_work() as holder:
        assert try_xact_lock(holder, "events.consumer", fed_consumer.name)
        drain_consumer(fed_consumer)  # another runner holds it: skipped
        assert effects(fed_consumer.name, ids) == dict.fromkeys(ids, 0)
    drain_consumer(fed_consumer)
    assert effects(fed_consumer.name, ids) == dict.fromkeys(ids, 1)


def test_consumers_have_their_own_cursors(tenant: Any, fed_consumer: feed.Consumer) -> None:
    other = "testing.other"
    start_cursors([other])
    consumer = feed.register(other, effect_writer(other), types=[FED])
    try:
        ids = _record(tenant.account_id, 2)
        drain_consumer(fed_consumer)
        assert effects(fed_consumer.name, ids) == dict.fromkeys(ids, 1)
        assert effects(other, ids) == dict.fromkeys(ids, 0)
        with unit_of_work() as session:
            lags = service.consumer_lags(session)
        assert lags[fed_consumer.name] == 0
        assert lags[other] >= 2
        drain_consumer(consumer)
        assert effects(other, ids) == dict.fromkeys(ids, 1)
    finally:
        feed.unregister(other)
        forget_cursors([other])


def test_a_commit_with_events_wakes_the_consumers_once(
    tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[outbox.OutgoingMessage] = []
    monkeypatch.setattr(outbox, "_publisher", sent.append)
    _record(tenant.account_id, 3)
    assert [(m.task, m.queue, m.kwargs) for m in sent] == [(DRAIN_TASK, "default", {})]

    sent.clear()
    with unit_of_work() as session:
        record_fed(session, tenant.account_id, 1)
        session.rollback()
    with unit_of_work() as session:
        session.execute(text("SELECT 1"))
    assert sent == []


def test_a_registered_consumer_that_never_ran_lags_by_every_event(tenant: Any) -> None:
    name = "testing.never_ran"
    feed.register(name, lambda *_: None)
    try:
        _record(tenant.account_id, 1)
        with unit_of_work() as session:
            lags = service.consumer_lags(session)
            total = session.scalar(select(func.count()).select_from(DomainEvent))
        assert lags[name] == total
    finally:
        feed.unregister(name)
