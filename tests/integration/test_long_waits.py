"""Outages of hours with production schedules, in simulated time: money moves once and
nothing is left pending with nothing to move it.

The sweeps and job bodies run in this process on a clock the test moves
(tests/support/simulated.py); Stripe is the suite's stand-in, down or forgetful on demand.
After each scenario the money tables are swept for orphans: a refund, an upsell charge or an
order in a pending state that no job and no sweep will ever move.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from domain.jobs.models import Job
from domain.orders import service as orders
from domain.orders.models import Order, OrderCharge, Refund
from domain.shared.db import unit_of_work
from tests.support.funnels import ok
from tests.support.orders import (
    ORDERS,
    charges,
    event_payload,
    event_types,
    offer_funnel,
    paid_order,
    place_order,
)
from tests.support.simulated import SimulatedTime, simulated_time

WEBHOOK = "/api/v1/orders/stripe/webhook"
DOWN = 10**6  # "every request from now on" for the stand-in's fault rules


@pytest.fixture
def live(client: Any, tenant: Any, standin: Any) -> dict[str, Any]:
    """A live funnel with an order form (+bump), an upsell and a downsell."""
    return offer_funnel(client, tenant.headers)


@pytest.fixture
def sim(tenant: Any, standin: Any) -> Any:
    """Simulated time for the tenant's jobs, with the production schedules."""
    with simulated_time([tenant.account_id]) as s:
        yield s
    with unit_of_work() as session:
        assert orders.stuck_money(session, account_ids=[tenant.account_id]) == []


def _refund(refund_id: str) -> Refund:
    with unit_of_work() as session:
        found = session.get(Refund, uuid.UUID(refund_id))
        assert found is not None
        return found


def _order(order_id: str) -> Order:
    with unit_of_work() as session:
        found = session.get(Order, uuid.UUID(order_id))
        assert found is not None
        return found


def _job(job_id: str) -> Job:
    with unit_of_work() as session:
        found = session.get(Job, uuid.UUID(job_id))
        assert found is not None
        return found


def _ask_refund(client: Any, tenant: Any, order_id: str, **body: Any) -> dict[str, Any]:
    url = f"{ORDERS}/{order_id}/refunds"
    return ok(client.post(url, json=body, headers=tenant.headers), 202)  # type: ignore[no-any-return]


def _main_charge(order_id: str) -> OrderCharge:
    return next(c for c in charges(order_id) if c.kind == "main")


def _stripe_refunds(standin: Any, order_id: str) -> list[dict[str, Any]]:
    stripe_charge = _main_charge(order_id).stripe_charge_id
    return standin.refunds_for(stripe_charge)  # type: ignore[no-any-return]


def test_stripe_down_six_hours_during_a_refund_refunds_once_after_recovery(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    standin.fail_next(DOWN, 500)
    refund = _ask_refund(client, tenant, order["id"])
    sim.advance(hours=6)
    assert _refund(refund["id"]).status == "pending"
    assert _job(refund["job_id"]).attempts == 7  # attempts at 0, 1m, 6m, 21m, 51m, 1h51, 3h51
    assert _stripe_refunds(standin, order["id"]) == []

    standin.clear_faults()
    sim.advance(hours=4)
    assert _refund(refund["id"]).status == "succeeded"
    assert [r["amount"] for r in _stripe_refunds(standin, order["id"])] == [4900]
    assert _order(order["id"]).payment_status == "refunded"
    assert event_types(order["id"]).count("order.refunded") == 1


def test_stripe_down_past_the_whole_schedule_fails_the_refund_and_frees_its_amount(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    standin.fail_next(DOWN, 503)
    refund = _ask_refund(client, tenant, order["id"])
    sim.advance(hours=23)
    failed = _refund(refund["id"])
    assert failed.status == "failed"
    assert "nothing was refunded" in (failed.failure_reason or "")
    job = _job(refund["job_id"])
    assert (job.status, job.attempts) == ("failed", 10)
    assert _main_charge(order["id"]).refunded_cents == 0
    assert event_payload(order["id"], "refund.failed")["refund_id"] == refund["id"]

    standin.clear_faults()
    again = _ask_refund(client, tenant, order["id"])  # the whole amount is refundable again
    sim.advance(minutes=1)
    assert _refund(again["id"]).status == "succeeded"
    assert [r["amount"] for r in _stripe_refunds(standin, order["id"])] == [4900]


def test_a_lost_answer_retried_past_the_key_window_is_found_not_refunded_again(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    standin.fail_after_commit_next(1, op="refunds.create")  # Stripe refunded; we heard a 500
    refund = _ask_refund(client, tenant, order["id"], amount_cents=1000)
    sim.run_due()
    assert _refund(refund["id"]).status == "pending"
    assert len(_stripe_refunds(standin, order["id"])) == 1

    sim.now += timedelta(hours=25)  # the workers were down for a day
    standin.forget_idempotency_keys()  # ... and Stripe no longer knows our key
    sim.run_due()
    assert _refund(refund["id"]).status == "succeeded"
    assert [r["amount"] for r in _stripe_refunds(standin, order["id"])] == [1000]
    assert standin.count("refunds.create") == 1


def test_an_upsell_accepted_while_its_checkout_is_processing_is_charged_once_it_settles(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = place_order(client, tenant.headers, live)
    standin.hold_next_confirms(1)
    standin.confirm_as_browser(order["payment_intent_id"])  # the bank takes its time
    upsell_step = live["steps"]["upsell"]["id"]
    answer = client.post(
        f"{ORDERS}/{order['id']}/upsells",
        json={"step_id": upsell_step, "decision": "accept"},
        headers=tenant.headers,
    )
    upsell_job = ok(answer, 202)["job_id"]
    sim.advance(hours=5)  # past the unpaid-order timeout: a processing payment is not cancelled
    assert _order(order["id"]).status == "processing"
    waiting = _job(upsell_job)
    assert (waiting.status, waiting.attempts) == ("queued", 0)
    assert waiting.waits >= 9  # 5s, 15s, 1m, 5m, 15m, then hourly: none spent an attempt

    standin.finish_processing(order["payment_intent_id"])
    sim.advance(hours=1, minutes=10)  # the settling job's next look; the upsell is charged then
    assert _order(order["id"]).status == "paid"
    upsell_charge = next(c for c in charges(order["id"]) if c.kind == "upsell")
    assert upsell_charge.status == "succeeded"
    customer = _order(order["id"]).stripe_customer_id
    upsell_intents = [
        pi for pi in standin.payment_intents(customer=customer) if pi["metadata"].get("upsell_id")
    ]
    assert [pi["status"] for pi in upsell_intents] == ["succeeded"]
    assert event_types(order["id"]).count("upsell.accepted") == 1


def test_an_abandoned_checkout_is_cancelled_after_the_timeout(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = place_order(client, tenant.headers, live)
    sim.advance(minutes=115)
    assert _order(order["id"]).status == "awaiting_payment"
    sim.advance(minutes=10)
    assert _order(order["id"]).status == "cancelled"
    assert standin.payment_intent(order["payment_intent_id"])["status"] == "canceled"
    assert event_payload(order["id"], "order.cancelled")["reason"] == "expired"


def test_a_pending_refund_is_settled_when_stripe_decides(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    standin.hold_next_refunds(1)
    refund = _ask_refund(client, tenant, order["id"], amount_cents=900)
    sim.advance(hours=3)
    pending = _refund(refund["id"])
    assert (pending.status, _job(refund["job_id"]).attempts) == ("pending", 0)
    assert pending.stripe_refund_id is not None

    standin.finish_refund(pending.stripe_refund_id, succeed=False)
    sim.advance(hours=1)
    assert _refund(refund["id"]).status == "failed"
    assert _main_charge(order["id"]).refunded_cents == 0


def test_a_refund_that_fails_after_it_succeeded_is_settled_from_the_webhook(
    client: Any, tenant: Any, live: Any, standin: Any, sim: SimulatedTime
) -> None:
    order = paid_order(client, tenant.headers, live, standin)
    refund = _ask_refund(client, tenant, order["id"])
    sim.run_due()
    done = _refund(refund["id"])
    assert done.status == "succeeded"
    assert _order(order["id"]).payment_status == "refunded"

    assert done.stripe_refund_id is not None
    standin.finish_refund(done.stripe_refund_id, succeed=False)
    [event] = standin.events_of("refund.failed", done.stripe_refund_id)
    payload = json.dumps(event).encode()
    signed = {"Stripe-Signature": standin.sign(payload), "Content-Type": "application/json"}
    assert client.post(WEBHOOK, content=payload, headers=signed).status_code == 200
    sim.run_due()
    failed = _refund(refund["id"])
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert _main_charge(order["id"]).refunded_cents == 0
    assert _order(order["id"]).payment_status == "paid"
    assert event_types(order["id"])[-1] == "refund.failed"


def test_the_orphan_sweep_sees_a_refund_that_nothing_will_move(
    client: Any, tenant: Any, live: Any, standin: Any
) -> None:
    with simulated_time([tenant.account_id]):  # its jobs are collected, never run
        order = paid_order(client, tenant.headers, live, standin)
        refund = _ask_refund(client, tenant, order["id"])
        with unit_of_work() as session:
            assert orders.stuck_money(session, account_ids=[tenant.account_id]) == []
            job = session.get(Job, uuid.UUID(refund["job_id"]))
            assert job is not None
            job.status = "failed"  # the job ended; the refund did not
        with unit_of_work() as session:
            stuck = orders.stuck_money(session, account_ids=[tenant.account_id])
            assert stuck == [("refunds", uuid.UUID(refund["id"]), "pending")]
        scrape = client.get("/metrics").text  # operators see it too
        assert re.search(r'^funnels_money_stuck\{table="refunds"\} [1-9]', scrape, re.M)
        with unit_of_work() as session:
            session.get(Refund, uuid.UUID(refund["id"])).status = "failed"  # type: ignore[union-attr]
