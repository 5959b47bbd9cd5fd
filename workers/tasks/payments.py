"""Payments tasks: settle or cancel an order from its PaymentIntent; execute refunds."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from domain.jobs.models import Job
from domain.orders import offers
from domain.orders import service as orders
from domain.orders.stripe_gateway import gateway
from workers.tasks.base import job_task


@job_task("payments.settle_order")
def settle_order(session: Session, job: Job) -> dict[str, Any]:
    """Paid, failed or cancelled as Stripe says; still open: the job looks again later."""
    return orders.settle_order(
        session, order_id=uuid.UUID(job.arguments["order_id"]), gateway=gateway()
    )


@job_task("payments.cancel_order")
def cancel_order(session: Session, job: Job) -> dict[str, Any]:
    """Cancel an unpaid order's PaymentIntent and settle the order from the result."""
    return orders.cancel_order(
        session, order_id=uuid.UUID(job.arguments["order_id"]), gateway=gateway()
    )


@job_task("payments.refund")
def refund(session: Session, job: Job) -> dict[str, Any]:
    """Execute a reserved refund at Stripe, exactly once."""
    return orders.execute_refund(
        session, refund_id=uuid.UUID(job.arguments["refund_id"]), gateway=gateway()
    )


@job_task("payments.charge_upsell")
def charge_upsell(session: Session, job: Job) -> dict[str, Any]:
    """Charge an accepted upsell or downsell on the saved card, exactly once."""
    return offers.charge_upsell(
        session, upsell_id=uuid.UUID(job.arguments["upsell_id"]), gateway=gateway()
    )
