"""The database rules orders rest on: gapless order numbers, refunds within what was captured."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from domain.orders import repository as repo
from domain.orders.models import Order, OrderCharge
from domain.shared.db import unit_of_work


class _Rollback(Exception):
    pass


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(i) in count threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_order_numbers_are_sequential_without_gaps_under_concurrency(tenant: Any) -> None:
    committed: list[int] = []
    lock = threading.Lock()

    def checkout(i: int) -> None:
        try:
            with unit_of_work() as session:
                number = repo.next_order_number(session, tenant.account_id)
                if i % 3 == 0:
                    raise _Rollback  # a checkout that fails gives its number back
        except _Rollback:
            return
        with lock:
            committed.append(number)

    _in_threads(24, checkout)
    assert sorted(committed) == list(range(1, 17))
    with unit_of_work() as session:
        assert repo.next_order_number(session, tenant.account_id) == 17


def test_accounts_number_their_orders_separately(tenant: Any, other_tenant: Any) -> None:
    with unit_of_work() as session:
        first = [repo.next_order_number(session, tenant.account_id) for _ in range(3)]
        other = repo.next_order_number(session, other_tenant.account_id)
    assert first == [1, 2, 3]
    assert other == 1


def _captured_charge(account_id: uuid.UUID, captured: int) -> uuid.UUID:
    with unit_of_work() as session:
        order = Order(
            id=uuid.uuid4(),
            account_id=account_id,
            number=repo.next_order_number(session, account_id),
            currency="USD",
            total_cents=captured,
            customer_email="buyer@example.com",
            customer_token_hash="0" * 64,
            status="paid",
            payment_status="paid",
        )
        charge = OrderCharge(
            id=uuid.uuid4(),
            account_id=account_id,
            order_id=order.id,
            kind="main",
            status="succeeded",
            currency="USD",
            amount_cents=captured,
            captured_cents=captured,
            stripe_payment_intent_id=f"pi_{uuid.uuid4().hex}",
        )
        session.add(order)
        session.flush()
        session.add(charge)
    return charge.id


def test_concurrent_refunds_never_exceed_what_was_captured(tenant: Any) -> None:
    charge_id = _captured_charge(tenant.account_id, 1000)
    granted: list[bool] = []

    def refund(_: int) -> None:
        with unit_of_work() as session:
            granted.append(repo.reserve_refund(session, charge_id, 300))

    _in_threads(10, refund)
    assert granted.count(True) == 3
    with unit_of_work() as session:
        charge = session.get(OrderCharge, charge_id)
        assert charge is not None
        assert charge.refunded_cents == 900
        # The last 100 can still be refunded; one cent more cannot.
        assert repo.reserve_refund(session, charge_id, 100)
        assert not repo.reserve_refund(session, charge_id, 1)


def test_the_database_itself_refuses_an_overdrawn_charge(tenant: Any) -> None:
    charge_id = _captured_charge(tenant.account_id, 500)
    with pytest.raises(IntegrityError, match="refunds_within_captured"), unit_of_work() as session:
        session.execute(
            update(OrderCharge).where(OrderCharge.id == charge_id).values(refunded_cents=501)
        )
    with unit_of_work() as session:
        repo.reserve_refund(session, charge_id, 200)
        repo.release_refund(session, charge_id, 200)
        charge = session.get(OrderCharge, charge_id)
        assert charge is not None
        assert charge.refunded_cents == 0
