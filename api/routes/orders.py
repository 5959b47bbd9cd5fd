"""Orders and payments: the checkout PaymentIntent and the order created against it."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.deps import DbSession, PublicCaller, SettingsDep
from api.idempotency import Idempotency, respond
from domain.orders import service as orders
from domain.orders.schemas import OrderCreatedOut, OrderIn, PaymentIntentIn, PaymentIntentOut
from domain.orders.stripe_gateway import gateway

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


@router.post(
    "/payment-intent",
    response_model=PaymentIntentOut,
    status_code=status.HTTP_201_CREATED,
    responses={503: {"description": "Stripe is not answering"}},
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
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "The PaymentIntent does not fit this cart, or has an order"}},
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
        headers=lambda body: {"Location": f"/api/v1/jobs/{body['job_id']}"},
    )
