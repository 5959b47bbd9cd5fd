"""Routes the suite mounts on its app to exercise platform mechanisms no module uses yet."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from api.deps import CurrentPrincipal, DbSession, PublicCaller, SettingsDep
from api.idempotency import Idempotency, respond
from domain.events import catalogue
from domain.jobs import service as jobs
from domain.shared import events
from domain.shared.schemas import InputModel

router = APIRouter(prefix="/api/v1/_probe", tags=["probe"])


class Charged(events.EventPayload):
    """probe.charged"""

    amount_cents: int


catalogue.register(
    events.EventType("probe.charged", "The probe charge ran.", Charged, context="testing")
)


class ChargeIn(InputModel):
    amount_cents: int = Field(ge=1)
    sleep: float = 0


@router.post("/charges", status_code=status.HTTP_202_ACCEPTED)
def charge(
    body: ChargeIn,
    principal: CurrentPrincipal,
    db: DbSession,
    settings: SettingsDep,
    idempotency: Idempotency,
) -> Response:
    """A stand-in money endpoint: records an event, enqueues a job, answers 202."""

    def produce() -> dict[str, Any]:
        events.record(
            db,
            account_id=principal.account_id,
            type="probe.charged",
            payload={"amount_cents": body.amount_cents},
        )
        job = jobs.enqueue(db, account_id=principal.account_id, task="testing.record")
        time.sleep(body.sleep)
        return {"status": "pending", "job_id": str(job.id), "amount_cents": body.amount_cents}

    return respond(
        db=db,
        settings=settings,
        principal=principal,
        request=idempotency,
        status_code=202,
        produce=produce,
        headers=lambda answer: {"Location": f"/api/v1/jobs/{answer['job_id']}"},
    )


@router.get("/public")
def public(caller: PublicCaller) -> dict[str, str]:
    """Who a checkout/tracking caller is."""
    return {"account_id": str(caller.account_id), "kind": caller.kind}


# A test arms the hold; unarmed (any other test calling the route) it answers at once.
HOLD_ARMED = threading.Event()
HOLD_ENTERED = threading.Event()
HOLD_RELEASE = threading.Event()


@router.post("/hold")
def hold(principal: CurrentPrincipal, db: DbSession) -> dict[str, str]:
    """A long request (a slow Stripe call, say): while armed, its transaction stays open."""
    if HOLD_ARMED.is_set():
        HOLD_ENTERED.set()
        HOLD_RELEASE.wait(timeout=60)
    return {"account_id": str(principal.account_id)}
