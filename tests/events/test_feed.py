"""The feed: commit-safe order, one cursor per consumer, effect and cursor in one commit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.events import feed
from domain.shared.db import get_sessionmaker
from tests.support.feed import effects, record_fed
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
