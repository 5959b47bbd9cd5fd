"""Orders and payments: the checkout PaymentIntent and the order created against it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import (
    CurrentPrincipal,
    DbSession,
    Pagination,
    PaymentsConfigured,
    PublicCaller,
    SettingsDep,
)
from api.idempotency import Idempotency, respond
from api.openapi import ACCEPTED_WITH_JOB
from domain.orders import analytics, offers
from domain.orders import service as orders
from domain.orders.models import OrderStatus, PaymentStatus
from domain.orders.schemas import (
    BumpIn,
    OrderCreatedOut,
    OrderIn,
    OrderJobOut,
    OrderOut,
    OrderSummaryOut,
    OrderUpsellOut,
    PaymentIntentIn,
    PaymentIntentOut,
    RefundAcceptedOut,
    RefundIn,
    RefundOut,
    StripeWebhookOut,
    UpsellAnswerOut,
    UpsellIn,
)
from domain.orders.stripe_gateway import gateway
from domain.shared.schemas import DateParam, DateTimeParam, Page, page_of

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

STRIPE: dict[int | str, dict[str, Any]] = {
    502: {"description": "Stripe refused a request we built (`payment_provider_error`)"},
    503: {"description": "Stripe is not answering; try again (`payment_provider_unavailable`)"},
}
NO_LIVE_OFFER: dict[int | str, dict[str, Any]] = {
    404: {"description": "No live funnel with that id, or no such offer step in it"}
}


def _job_location(body: Any) -> dict[str, str]:
    """The Location of a 202: the job doing the work (if there is one)."""
    return {"Location": f"/api/v1/jobs/{body['job_id']}"} if body.get("job_id") else {}


@router.post(
    "/payment-intent",
    response_model=PaymentIntentOut,
    dependencies=[PaymentsConfigured],
    status_code=status.HTTP_201_CREATED,
    responses={**STRIPE, **NO_LIVE_OFFER},
)
def create_payment_intent(
    body: PaymentIntentIn,
    caller: PublicCaller,
    db: DbSession,
    settings: SettingsDep,
    idempotent: Idempotency,
) -> JSONResponse:
    """Price the cart of a live order form on the server and open a Stripe PaymentIntent.

    Accepts a bearer token or the account's publishable key. The answer carries the
    client_secret Stripe.js confirms with, and the priced cart. With an Idempotency-Key,
    a retry gets the same PaymentIntent back.
    """
    return respond(
        db=db,
        settings=settings,
        principal=caller,
        request=idempotent,
        status_code=status.HTTP_201_CREATED,
        produce=lambda: orders.create_payment_intent(
            db, account_id=caller.account_id, data=body, gateway=gateway()
        ),
    )


@router.post(
    "",
    response_model=OrderCreatedOut,
    dependencies=[PaymentsConfigured],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ACCEPTED_WITH_JOB,
        **STRIPE,
        **NO_LIVE_OFFER,
        409: {
            "description": "The PaymentIntent does not fit this cart, was cancelled or has an order"
        },
    },
)
def create_order(
    body: OrderIn,
    caller: PublicCaller,
    db: DbSession,
    settings: SettingsDep,
    idempotent: Idempotency,
) -> JSONResponse:
    """Create the order for a checkout's PaymentIntent: 202 `awaiting_payment` and a job.

    Once the buyer confirms with Stripe.js, a payments worker settles the order from the
    PaymentIntent (poll the job or the order). The `customer_token` is shown once: the
    checkout page needs it to add bumps and answer upsells with the publishable key.
    """

    def produce() -> OrderCreatedOut:
        order, charge, job, token = orders.create_order(
            db, account_id=caller.account_id, data=body, gateway=gateway()
        )
        assert charge.stripe_payment_intent_id is not None
        return OrderCreatedOut(
            id=order.id,
            number=order.number,
            status=order.status,
            payment_status=order.payment_status,
            currency=order.currency,
            total_cents=order.total_cents,
            payment_intent_id=charge.stripe_payment_intent_id,
            job_id=job.id,
            customer_token=token,
        )

    return respond(
        db=db,
        settings=settings,
        principal=caller,
        request=idempotent,
        status_code=status.HTTP_202_ACCEPTED,
        produce=produce,
        headers=_job_location,
    )


@router.get("", response_model=Page[OrderSummaryOut])
def list_orders(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    funnel_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
    payment_status: PaymentStatus | None = None,
    created_from: Annotated[DateTimeParam | None, Query(description="inclusive, RFC 3339")] = None,
    created_to: Annotated[DateTimeParam | None, Query(description="exclusive, RFC 3339")] = None,
) -> Page[OrderSummaryOut]:
    """The account's orders, newest first; filter by funnel, status, payment status, dates."""
    rows, total = orders.list_orders(
        db,
        account_id=principal.account_id,
        page=page,
        funnel_id=funnel_id,
        status=status,
        payment_status=payment_status,
        created_from=created_from,
        created_to=created_to,
    )
    return page_of(OrderSummaryOut, rows, total, page)


@router.get(
    "/analytics",
    response_model=analytics.OrderAnalyticsOut,
    responses={404: {"description": "funnel_id is not one of the account's funnels"}},
)
def order_analytics(
    principal: CurrentPrincipal,
    db: DbSession,
    date_from: Annotated[
        DateParam | None,
        Query(
            description=(
                "first day in the account's time zone, inclusive (default: date_to - 29 days)"
            ),
            json_schema_extra={"pattern": analytics.DAY_PATTERN},
        ),
    ] = None,
    date_to: Annotated[
        DateParam | None,
        Query(
            description="last day in the account's time zone, inclusive (default: today there)",
            json_schema_extra={"pattern": analytics.DAY_PATTERN},
        ),
    ] = None,
    funnel_id: uuid.UUID | None = None,
    currency: Annotated[
        str | None, Query(pattern="^[A-Za-z]{3}$", description="only this currency (ISO 4217)")
    ] = None,
) -> analytics.OrderAnalyticsOut:
    """Revenue, orders, AOV, bump and upsell take rates and refunds per day of the account's
    time zone (settings), the days of the funnel reports too.

    One series per currency (money of different currencies is never added up), every day
    of the range present; at most 366 days. Definitions: domain/orders/analytics.py.
    """
    return analytics.order_analytics(
        db,
        account_id=principal.account_id,
        date_from=date_from,
        date_to=date_to,
        funnel_id=funnel_id,
        currency=currency.upper() if currency else None,
    )


# /{order_id} routes come after every fixed path under /orders (/analytics, /payment-intent).
@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> OrderOut:
    """One order: items, bumps, charges (payment state), upsells and refunds."""
    return orders.order_detail(db, account_id=principal.account_id, order_id=order_id)


@router.post(
    "/stripe/webhook",
    response_model=StripeWebhookOut,
    dependencies=[PaymentsConfigured],
    responses={400: {"description": "Bad or stale signature; nothing was stored"}},
)
async def stripe_webhook(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    stripe_signature: Annotated[
        str | None,
        Header(alias="Stripe-Signature", description="Stripe's signature of the raw body"),
    ] = None,
) -> StripeWebhookOut:
    """Stripe's events: the signature is checked, each event is stored once and applied once."""
    payload = await request.body()
    event = gateway().parse_event(payload, stripe_signature, settings.stripe_webhook_secret)
    return StripeWebhookOut.model_validate(
        await run_in_threadpool(orders.receive_stripe_event, db, event)
    )


@router.post(
    "/{order_id}/cancel",
    response_model=OrderJobOut,
    dependencies=[PaymentsConfigured],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ACCEPTED_WITH_JOB,
        409: {"description": "The order is paid (refund it instead) or settled"},
    },
)
def cancel_order(
    order_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, response: Response
) -> OrderJobOut:
    """Cancel an unpaid order: a worker cancels its PaymentIntent, then settles the order.

    A buyer who paid in the meantime keeps the order paid.
    """
    order, job = orders.request_cancel(db, account_id=principal.account_id, order_id=order_id)
    response.headers.update(_job_location({"job_id": job.id}))
    return OrderJobOut(id=order.id, status=order.status, job_id=job.id)


@router.post(
    "/{order_id}/complete",
    response_model=OrderOut,
    responses={409: {"description": "The order is not paid (`order_not_paid`)"}},
)
def complete_order(order_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> OrderOut:
    """Mark a paid order fulfilled (409 `order_not_paid` otherwise)."""
    orders.complete_order(db, account_id=principal.account_id, order_id=order_id)
    return orders.order_detail(db, account_id=principal.account_id, order_id=order_id)


@router.post(
    "/{order_id}/refunds",
    response_model=RefundAcceptedOut,
    dependencies=[PaymentsConfigured],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ACCEPTED_WITH_JOB,
        404: {"description": "No such order, or no such charge on it"},
        409: {"description": "The order is not paid, or the charge captured nothing"},
    },
)
def refund_order(
    order_id: uuid.UUID,
    body: RefundIn,
    principal: CurrentPrincipal,
    db: DbSession,
    settings: SettingsDep,
    idempotent: Idempotency,
) -> JSONResponse:
    """Refund all or part of a charge (the checkout's by default); a worker executes it.

    What a charge gives back never exceeds what it captured, also under concurrent requests.
    """

    def produce() -> RefundAcceptedOut:
        refund, job = orders.request_refund(
            db, account_id=principal.account_id, order_id=order_id, data=body
        )
        return RefundAcceptedOut.model_validate(
            {**RefundOut.model_validate(refund).model_dump(), "job_id": job.id}
        )

    return respond(
        db=db,
        settings=settings,
        principal=principal,
        request=idempotent,
        status_code=status.HTTP_202_ACCEPTED,
        produce=produce,
        headers=_job_location,
    )


@router.get("/{order_id}/refunds", response_model=Page[RefundOut])
def list_refunds(
    order_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, page: Pagination
) -> Page[RefundOut]:
    """The order's refunds, newest first."""
    rows, total = orders.list_refunds(
        db, account_id=principal.account_id, order_id=order_id, page=page
    )
    return page_of(RefundOut, rows, total, page)


@router.post(
    "/{order_id}/bumps",
    response_model=OrderOut,
    dependencies=[PaymentsConfigured],
    responses={
        **STRIPE,
        403: {"description": "Publishable key without the order's customer_token"},
        409: {"description": "The buyer has confirmed the payment, or the order is settled"},
    },
)
def add_bump(order_id: uuid.UUID, body: BumpIn, caller: PublicCaller, db: DbSession) -> OrderOut:
    """Add one of the order form's bumps while the payment is unconfirmed.

    The PaymentIntent's amount grows by the bump's catalogue price. Adding a bump the order
    has already is a no-op, so a retry is safe; once the buyer confirmed, 409.
    """
    offers.add_bump(db, caller=caller, order_id=order_id, data=body, gateway=gateway())
    return orders.order_detail(db, account_id=caller.account_id, order_id=order_id)


@router.post(
    "/{order_id}/upsells",
    response_model=UpsellAnswerOut,
    dependencies=[PaymentsConfigured],
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ACCEPTED_WITH_JOB,
        201: {"model": UpsellAnswerOut, "description": "A decline, recorded"},
        403: {"description": "Publishable key without the order's customer_token"},
        409: {"description": "The offer was answered otherwise, or the order is unpaid"},
    },
)
def answer_upsell(
    order_id: uuid.UUID,
    body: UpsellIn,
    caller: PublicCaller,
    db: DbSession,
    settings: SettingsDep,
    idempotent: Idempotency,
) -> JSONResponse:
    """Accept (202 and the job charging the saved card) or decline (201) a one-click offer.

    An accepted upsell or downsell is its own off-session PaymentIntent; a card that needs
    the buyer to authenticate ends the charge `requires_action`.
    """

    def produce() -> UpsellAnswerOut:
        upsell, job = offers.answer_upsell(db, caller=caller, order_id=order_id, data=body)
        return UpsellAnswerOut.model_validate(
            {
                **OrderUpsellOut.model_validate(upsell).model_dump(),
                "order_id": upsell.order_id,
                "job_id": job.id if job else None,
            }
        )

    return respond(
        db=db,
        settings=settings,
        principal=caller,
        request=idempotent,
        status_code=lambda out: 202 if out["decision"] == "accepted" else 201,
        produce=produce,
        headers=_job_location,
    )
