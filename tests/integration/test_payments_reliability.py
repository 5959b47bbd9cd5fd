"""Money moves exactly once through real Celery workers: killed workers, Stripe outages, declines.

The worker here is this module's own, with short backoffs and a 1 s Stripe timeout. It
must be the only consumer of this module's jobs whatever ran before (the suite-wide worker
may be up already), so it has a broker of its own, and this process publishes there while
the module runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from devtools.embedded import RedisServer
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.orders.models import Order, OrderCharge, Refund
from domain.shared.db import unit_of_work, utcnow
from domain.shared.events import DomainEvent
from domain.shared.settings import get_settings
from tests.support.funnels import ok
from tests.support.jobs import load_job
from tests.support.orders import ORDERS, charges, offer_funnel, place_order, settle
from tests.support.worker import CeleryWorker
from workers import publisher
from workers.celery_app import create_celery

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def payments_worker(app: Any, stripe_server: Any) -> Iterator[CeleryWorker]:
    """A worker on the stand-in with quick retries and a broker of its own, for this module.

    `app` first: creating it installs the default publisher, which this one replaces.
    """
    broker_dir = tempfile.mkdtemp(prefix="fpb", dir="/tmp")
    broker = RedisServer(Path(broker_dir))
    broker_url = broker.start()
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "STRIPE_API_BASE": stripe_server.base_url,
        "STRIPE_TIMEOUT_SECONDS": "1",
        "RETRY_SCHEDULE_PAYMENTS": "0.2s,0.4s,0.8s,1.6s,3s,5s,5s",
        "WAIT_SCHEDULE": "0.2s,0.5s,1s",
    }
    worker = CeleryWorker(env, name="payments")
    try:
        worker.start()
        publisher.install(create_celery(broker_url))
        yield worker
    finally:
        publisher.install()
        worker.stop()
        broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)


@pytest.fixture
def live(client: Any, tenant: Any, standin: Any, payments_worker: CeleryWorker) -> dict[str, Any]:
    """A live funnel with an order form (+bump), an upsell and a downsell."""
    return offer_funnel(client, tenant.headers)


def _wait_for(check: Callable[[], Any], *, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _finished(job_id: str) -> Job:
    def done() -> Job | None:
        job = load_job(uuid.UUID(job_id))
        return job if job.status in ("succeeded", "failed") else None

    job: Job = _wait_for(done, what=f"job {job_id}")
    return job


def _paid(client: Any, tenant: Any, live: Any, standin: Any) -> dict[str, Any]:
    order = place_order(client, tenant.headers, live)
    standin.confirm_as_browser(order["payment_intent_id"])
    settle(order["id"])
    return order


def _accept(client: Any, tenant: Any, order: Any, step: Any) -> dict[str, Any]:
    body = {"step_id": step["id"], "decision": "accept"}
    return ok(
        client.post(f"{ORDERS}/{order['id']}/upsells", json=body, headers=tenant.headers), 202
    )  # type: ignore[no-any-return]


def _kill_the_pool(worker: CeleryWorker) -> None:
    """SIGKILL every pool process: the task in flight dies before its commit."""
    for pid in worker.child_pids():
        os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_after_stripe_charged_charges_once(
    client: Any, tenant: Any, live: Any, standin: Any, payments_worker: CeleryWorker
) -> None:
    order = _paid(client, tenant, live, standin)
    # Stripe charges at once but answers only after 5 s: time to kill the worker waiting.
    standin.delay_next(1, 5.0, when="after", op="payment_intents.create")
    answer = _accept(client, tenant, order, live["steps"]["upsell"])
    _wait_for(lambda: standin.count("payment_intents.create") == 2, what="the upsell charge")
    _kill_the_pool(payments_worker)

    job = _finished(answer["job_id"])
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    upsell = charges(order["id"])[1]
    assert upsell.status == "succeeded"
    assert upsell.captured_cents == 4900
    assert len(standin.charges_for(upsell.stripe_payment_intent_id)) == 1
    assert standin.count("payment_intents.create") == 2  # the retry was a replay
    customer = standin.payment_intent(order["payment_intent_id"])["customer"]
    assert standin.captured_for_customer(customer) == 4900 + 4900


def test_a_whole_worker_killed_after_stripe_charged_is_swept_and_charges_once(
    client: Any, tenant: Any, live: Any, standin: Any, payments_worker: CeleryWorker
) -> None:
    """Main process and pool die together: the message stays unacknowledged at the broker
    (for its visibility timeout) and the job `running`; beat's sweep sends it again."""
    order = _paid(client, tenant, live, standin)
    standin.delay_next(1, 5.0, when="after", op="payment_intents.create")
    answer = _accept(client, tenant, order, live["steps"]["upsell"])
    _wait_for(lambda: standin.count("payment_intents.create") == 2, what="the upsell charge")
    assert payments_worker.process is not None
    os.killpg(payments_worker.process.pid, signal.SIGKILL)
    payments_worker.process.wait(timeout=10)
    payments_worker.start()
    assert load_job(uuid.UUID(answer["job_id"])).status == "running"

    # The sweep as beat runs it once the job has been untouched for JOB_REQUEUE_AFTER_SECONDS.
    stale_after = get_settings().job_requeue_after_seconds
    later = utcnow() + timedelta(seconds=stale_after + 1)
    with unit_of_work() as session:
        # Other tests' unfinished jobs are as stale by then; re-sending them is harmless.
        assert jobs.requeue_stale(session, now=later, stale_after_seconds=stale_after) >= 1
    job = _finished(answer["job_id"])
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    upsell = charges(order["id"])[1]
    assert upsell.status == "succeeded"
    assert len(standin.charges_for(upsell.stripe_payment_intent_id)) == 1
    assert standin.count("payment_intents.create") == 2


def test_a_worker_killed_after_stripe_refunded_refunds_once(
    client: Any, tenant: Any, live: Any, standin: Any, payments_worker: CeleryWorker
) -> None:
    order = _paid(client, tenant, live, standin)
    standin.delay_next(1, 5.0, when="after", op="refunds.create")
    url = f"{ORDERS}/{order['id']}/refunds"
    refund = ok(client.post(url, json={"amount_cents": 1500}, headers=tenant.headers), 202)
    _wait_for(lambda: standin.count("refunds.create") == 1, what="the refund at Stripe")
    _kill_the_pool(payments_worker)

    job = _finished(refund["job_id"])
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    assert standin.count("refunds.create") == 1
    with unit_of_work() as session:
        row = session.get(Refund, uuid.UUID(refund["id"]))
        assert row is not None
        assert row.status == "succeeded"
        assert row.stripe_refund_id is not None
    assert charges(order["id"])[0].refunded_cents == 1500
    assert standin.charges_for(order["payment_intent_id"])[0]["amount_refunded"] == 1500


def test_stripe_errors_and_timeouts_are_retried_until_the_charge_succeeds(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    order = _paid(client, tenant, live, standin)
    standin.fail_next(1, 500, op="payment_intents.create")
    # Then the charge happens but its answer comes after the worker's 1 s timeout.
    standin.delay_next(1, 2.0, when="after", op="payment_intents.create")
    answer = _accept(client, tenant, order, live["steps"]["downsell"])

    job = _finished(answer["job_id"])
    assert job.status == "succeeded", job.error
    assert job.attempts >= 3
    upsell = charges(order["id"])[1]
    assert upsell.captured_cents == 1900
    assert len(standin.charges_for(upsell.stripe_payment_intent_id)) == 1
    assert standin.count("payment_intents.create") == 2


def test_declines_are_final(client: Any, tenant: Any, live: Any, standin: Any) -> None:
    # At checkout: the buyer's card is declined, the order is payment_failed at the first try.
    declined = place_order(client, tenant.headers, live)
    standin.confirm_as_browser(declined["payment_intent_id"], "pm_card_chargeDeclined")
    settle_job = _finished(declined["job_id"])
    # The settling job may have looked once before the buyer confirmed; a decline ends it.
    assert settle_job.status == "succeeded", settle_job.error
    assert settle_job.result == {"status": "payment_failed"}
    detail = ok(client.get(f"{ORDERS}/{declined['id']}", headers=tenant.headers))
    assert detail["status"] == "payment_failed"
    assert detail["charges"][0]["failure_code"] == "generic_decline"

    # An upsell on a card that now declines: failed after one attempt, never retried.
    order = _paid(client, tenant, live, standin)
    pm = standin.payment_intent(order["payment_intent_id"])["payment_method"]
    standin.decline_future_charges(pm, code="card_declined", decline_code="insufficient_funds")
    answer = _accept(client, tenant, order, live["steps"]["upsell"])
    job = _finished(answer["job_id"])
    assert job.status == "succeeded"
    assert job.attempts == 1
    assert job.result == {"status": "failed"}
    assert charges(order["id"])[1].status == "failed"


CONCURRENT_CHECKOUTS = 200


def test_concurrent_checkouts_are_each_paid_once_with_sequential_numbers(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    """200 buyers at once through the API and a real worker."""

    def checkout(_: int) -> str:
        order = place_order(client, tenant.headers, live)
        standin.confirm_as_browser(order["payment_intent_id"])
        return str(order["id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        order_ids = list(pool.map(checkout, range(CONCURRENT_CHECKOUTS)))

    def all_paid() -> list[Order] | None:
        with unit_of_work() as session:
            rows = list(session.scalars(select(Order).where(Order.account_id == tenant.account_id)))
        return rows if all(o.status == "paid" for o in rows) else None

    rows = _wait_for(all_paid, what="every order paid", timeout=120)
    assert sorted(str(o.id) for o in rows) == sorted(order_ids)
    assert sorted(o.number for o in rows) == list(range(1, CONCURRENT_CHECKOUTS + 1))
    with unit_of_work() as session:
        main_charges = list(
            session.scalars(select(OrderCharge).where(OrderCharge.account_id == tenant.account_id))
        )
    assert len(main_charges) == CONCURRENT_CHECKOUTS
    assert all(c.status == "succeeded" and c.captured_cents == 4900 for c in main_charges)
    # Paid once each: one order.paid (what revenue and receipts count) per order. The
    # stand-in's charges cannot show it: the test confirmed each PaymentIntent itself.
    with unit_of_work() as session:
        paid_events = session.execute(
            select(DomainEvent.subject_id, func.count())
            .where(DomainEvent.account_id == tenant.account_id, DomainEvent.type == "order.paid")
            .group_by(DomainEvent.subject_id)
        ).all()
    assert sorted(str(subject) for subject, _ in paid_events) == sorted(order_ids)
    assert {count for _, count in paid_events} == {1}
    assert standin.count("payment_intents.create") == CONCURRENT_CHECKOUTS
