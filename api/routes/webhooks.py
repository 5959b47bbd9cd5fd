"""Outgoing webhooks (SPEC-FUN-005 #60-#65): endpoints, their deliveries, tests, recovery."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from api.deps import CurrentUser, DbSession, Pagination
from api.openapi import ACCEPTED_WITH_JOB
from domain.integrations.webhooks import deliveries
from domain.integrations.webhooks import service as webhooks
from domain.integrations.webhooks.models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from domain.integrations.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    RecoverIn,
    WebhookHealth,
    WebhookIn,
    WebhookJobOut,
    WebhookOut,
    WebhookPatch,
    WebhookWithSecretOut,
)
from domain.shared.schemas import Page

router = APIRouter(prefix="/api/v1/integrations/webhooks", tags=["webhooks"])

UNSAFE: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Invalid input: `unsafe_url` (the SSRF policy refused the URL), "
        "`unknown_event_type`, or `validation_error`"
    }
}
DISABLED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The webhook is disabled (`webhook_disabled`): enable it first"}
}


def _out(session: Session, rows: list[Webhook]) -> list[dict[str, Any]]:
    """Endpoints as answers, each with its delivery health."""
    figures = webhooks.health(session, rows)
    answers = []
    for row in rows:
        h = figures[row.id]
        health = WebhookHealth(
            attempts_24h=h.attempts_24h,
            success_rate_24h=round(h.successes_24h / h.attempts_24h, 4) if h.attempts_24h else None,
            pending_deliveries=h.pending,
            oldest_undelivered_at=h.oldest_pending_at,
            failing_since=row.failing_since,
        )
        data = {name: getattr(row, name) for name in WebhookOut.model_fields if name != "health"}
        answers.append({**data, "health": health})
    return answers


def _with_secret(session: Session, row: Webhook, secret: str) -> WebhookWithSecretOut:
    return WebhookWithSecretOut(**_out(session, [row])[0], secret=secret)


def _delivery(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    data = {
        name: getattr(row, name)
        for name in DeliveryOut.model_fields
        if name not in ("message_id", "attempt_log")
    }
    return DeliveryOut(
        **data,
        message_id=deliveries.message_id(row.id),
        attempt_log=[AttemptOut.model_validate(a) for a in attempts],
    )


def _job(response: Response, webhook_id: uuid.UUID, job_id: uuid.UUID) -> WebhookJobOut:
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return WebhookJobOut(webhook_id=webhook_id, job_id=job_id)


@router.post(
    "", response_model=WebhookWithSecretOut, status_code=status.HTTP_201_CREATED, responses=UNSAFE
)
def create_webhook(body: WebhookIn, user: CurrentUser, db: DbSession) -> WebhookWithSecretOut:
    """Subscribe a URL to event types; the signing secret is in this answer only."""
    row, secret = webhooks.create(db, account_id=user.account_id, data=body)
    return _with_secret(db, row, secret)


@router.get("", response_model=Page[WebhookOut])
def list_webhooks(user: CurrentUser, db: DbSession, page: Pagination) -> Page[WebhookOut]:
    """The account's endpoints, newest first, with their delivery health."""
    rows, total = webhooks.list_webhooks(db, account_id=user.account_id, page=page)
    items = [WebhookOut(**a) for a in _out(db, rows)]
    return Page[WebhookOut](items=items, total=total, page=page.page, page_size=page.page_size)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: uuid.UUID, user: CurrentUser, db: DbSession) -> WebhookOut:
    """One endpoint with its delivery health (recent success rate, oldest undelivered)."""
    row = webhooks.get(db, account_id=user.account_id, webhook_id=webhook_id)
    return WebhookOut(**_out(db, [row])[0])


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut | WebhookWithSecretOut,
    responses=UNSAFE,
)
def update_webhook(
    webhook_id: uuid.UUID, body: WebhookPatch, user: CurrentUser, db: DbSession
) -> WebhookOut | WebhookWithSecretOut:
    """Change url, event types, description or enabled; `rotate_secret` answers the new secret."""
    row, secret = webhooks.update(db, account_id=user.account_id, webhook_id=webhook_id, data=body)
    if secret is not None:
        return _with_secret(db, row, secret)
    return WebhookOut(**_out(db, [row])[0])


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: uuid.UUID, user: CurrentUser, db: DbSession) -> None:
    """Remove the endpoint, its deliveries and their attempts."""
    webhooks.delete(db, account_id=user.account_id, webhook_id=webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    webhook_id: uuid.UUID,
    user: CurrentUser,
    db: DbSession,
    page: Pagination,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryOut]:
    """The endpoint's deliveries, newest first: attempts, status codes, timings."""
    rows, total, attempts = webhooks.list_deliveries(
        db, account_id=user.account_id, webhook_id=webhook_id, page=page, status=status
    )
    items = [_delivery(row, attempts[row.id]) for row in rows]
    return Page[DeliveryOut](items=items, total=total, page=page.page, page_size=page.page_size)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"description": "Accepted: the delivery is due now, on a fresh schedule"},
        **DISABLED,
    },
)
def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, user: CurrentUser, db: DbSession
) -> DeliveryOut:
    """Send a delivery again (same `webhook-id`, so the receiver can deduplicate)."""
    row = webhooks.redeliver(
        db, account_id=user.account_id, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return _delivery(row, webhooks.attempts_of(db, row))


@router.post(
    "/{webhook_id}/test",
    response_model=WebhookJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ACCEPTED_WITH_JOB, **DISABLED},
)
def send_test(
    webhook_id: uuid.UUID, user: CurrentUser, db: DbSession, response: Response
) -> WebhookJobOut:
    """Send a signed `webhook.test` message; the job's result names its delivery."""
    job = webhooks.request_test(db, account_id=user.account_id, webhook_id=webhook_id)
    return _job(response, webhook_id, job.id)


@router.post(
    "/{webhook_id}/recover",
    response_model=WebhookJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ACCEPTED_WITH_JOB, **DISABLED},
)
def recover(
    webhook_id: uuid.UUID, body: RecoverIn, user: CurrentUser, db: DbSession, response: Response
) -> WebhookJobOut:
    """Resend every failed delivery created since a time (at most 14 days back, 10,000 a call)."""
    job = webhooks.request_recover(
        db, account_id=user.account_id, webhook_id=webhook_id, since=body.since, until=body.until
    )
    return _job(response, webhook_id, job.id)
