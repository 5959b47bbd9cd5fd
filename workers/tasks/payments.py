"""Payments tasks: settle, cancel and expire orders; execute and sync refunds; charge upsells."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from domain.jobs.models import Job
from domain.orders import offers, refunds, task_names
from domain.orders import service as orders
from domain.orders.stripe_gateway import gateway
from domain.shared.db import unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from workers.celery_app import celery_app
from workers.tasks.base import job_task


def _id(job: Job, name: str) -> uuid.UUID:
    return uuid.UUID(job.arguments[name])


def _settle_failed(session: Session, job: Job) -> None:
    orders.settle_failed(session, order_id=_id(job, "order_id"))


@job_task(task_names.SETTLE_ORDER, on_failure=_settle_failed)
def settle_order(session: Session, job: Job) -> dict[str, Any]:
    """Paid, failed or cancelled as Stripe says; still open: the job looks again later."""
    return orders.settle_order(session, order_id=_id(job, "order_id"), gateway=gateway())


def _cancel_failed(session: Session, job: Job) -> None:
    orders.cancel_failed(session, order_id=_id(job, "order_id"))


@job_task(task_names.CANCEL_ORDER, on_failure=_cancel_failed)
def cancel_order(session: Session, job: Job) -> dict[str, Any]:
    """Cancel an unpaid order's PaymentIntent and settle the order from the result."""
    return orders.cancel_order(
        session,
        order_id=_id(job, "order_id"),
        gateway=gateway(),
        reason=job.arguments.get("reason", "requested"),
    )


def _refund_failed(session: Session, job: Job) -> None:
    refunds.give_up(session, refund_id=_id(job, "refund_id"), gateway=gateway())


@job_task(task_names.REFUND, on_failure=_refund_failed)
def refund(session: Session, job: Job) -> dict[str, Any]:
    """Execute a reserved refund at Stripe, exactly once, and settle it from the answer."""
    return refunds.execute_refund(
        session, refund_id=_id(job, "refund_id"), gateway=gateway(), first_tried_at=job.started_at
    )


@job_task(task_names.SYNC_REFUND, on_failure=_refund_failed)
def sync_refund(session: Session, job: Job) -> dict[str, Any]:
    """Bring a refund in line with Stripe (after a refund webhook, or polling a pending one)."""
    return refunds.sync_refund(
        session,
        refund_id=_id(job, "refund_id"),
        gateway=gateway(),
        stripe_refund_id=job.arguments.get("stripe_refund_id"),
        poll=bool(job.arguments.get("poll")),
    )


def _upsell_failed(session: Session, job: Job) -> None:
    offers.give_up_upsell(session, upsell_id=_id(job, "upsell_id"), gateway=gateway())


@job_task(task_names.CHARGE_UPSELL, on_failure=_upsell_failed)
def charge_upsell(session: Session, job: Job) -> dict[str, Any]:
    """Charge an accepted upsell or downsell on the saved card, exactly once."""
    return offers.charge_upsell(
        session, upsell_id=_id(job, "upsell_id"), gateway=gateway(), first_tried_at=job.started_at
    )


@celery_app.task(name=task_names.EXPIRE_ORDERS)
def expire_orders() -> dict[str, int]:
    """Cancel orders left unpaid past ORDER_PAYMENT_TIMEOUT_MINUTES (beat)."""
    with unit_of_work() as session:
        if not try_xact_lock(session, task_names.EXPIRE_ORDERS):
            return {"skipped": 1}
        return {"expired": orders.expire_unpaid(session, now=utcnow())}
