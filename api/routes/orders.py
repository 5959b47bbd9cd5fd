"""Orders and payments (so far: the PaymentIntent a checkout page pays with)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.deps import DbSession, PublicCaller, SettingsDep
from api.idempotency import Idempotency, respond
from domain.orders import service as orders
from domain.orders.schemas import PaymentIntentIn, PaymentIntentOut
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
