"""Use cases of outgoing webhooks: endpoints, their deliveries, test messages and recovery."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from domain.events import catalogue
from domain.integrations import crypto
from domain.integrations.webhooks import deliveries, signing, ssrf
from domain.integrations.webhooks import repository as repo
from domain.integrations.webhooks.consumer import wake_dispatcher
from domain.integrations.webhooks.models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from domain.integrations.webhooks.repository import Health
from domain.integrations.webhooks.schemas import WebhookIn, WebhookPatch
from domain.integrations.webhooks.task_names import RECOVER, SEND_TEST
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.shared.db import utcnow
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.schemas import PageParams

RECOVER_MAX_DAYS = 14
"""How far back a recovery may reach."""
RECOVER_MAX_DELIVERIES = 10_000
"""Deliveries one recovery puts back in the queue at most (call again for more)."""
ATTEMPTS_SHOWN = 20
HEALTH_WINDOW = timedelta(hours=24)


def _check_event_types(types: list[str]) -> list[str]:
    """The types, each once, in order; 422 naming each unknown one."""
    unknown = [
        {"loc": ["event_types", i], "msg": f"unknown event type {t!r}"}
        for i, t in enumerate(types)
        if not catalogue.is_known(t)
    ]
    if unknown:
        raise InvalidInput(
            "Unknown event types (see GET /api/v1/events/types)",
            code="unknown_event_type",
            details=unknown,
        )
    return list(dict.fromkeys(types))


def create(session: Session, *, account_id: uuid.UUID, data: WebhookIn) -> tuple[Webhook, str]:
    """Subscribe a URL (checked against the SSRF policy) to event types; the secret, once."""
    event_types = _check_event_types(data.event_types)
    ssrf.check_url(data.url)
    now = utcnow()
    secret = signing.new_secret()
    webhook = Webhook(
        id=uuid.uuid4(),
        account_id=account_id,
        url=data.url,
        description=data.description,
        event_types=event_types,
        enabled=data.enabled,
        secret=crypto.encrypt_text(secret),
        disabled_at=None if data.enabled else now,
        disabled_reason=None if data.enabled else "disabled by the account",
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    session.flush()
    return webhook, secret


def get(
    session: Session, *, account_id: uuid.UUID, webhook_id: uuid.UUID, lock: bool = False
) -> Webhook:
    """One of the account's endpoints, or 404."""
    webhook = repo.get_webhook(session, account_id, webhook_id, lock=lock)
    if webhook is None:
        raise NotFound("Webhook not found")
    return webhook


def list_webhooks(
    session: Session, *, account_id: uuid.UUID, page: PageParams
) -> tuple[list[Webhook], int]:
    """A page of the account's endpoints, newest first."""
    return repo.list_webhooks(session, account_id, page)


def _set_enabled(webhook: Webhook, enabled: bool, now: datetime) -> None:
    if enabled and not webhook.enabled:
        webhook.enabled = True
        webhook.disabled_at = None
        webhook.disabled_reason = None
        webhook.failing_since = None  # a fresh start: five more days before disabling
    elif not enabled and webhook.enabled:
        webhook.enabled = False
        webhook.disabled_at = now
        webhook.disabled_reason = "disabled by the account"


def update(
    session: Session, *, account_id: uuid.UUID, webhook_id: uuid.UUID, data: WebhookPatch
) -> tuple[Webhook, str | None]:
    """Change the fields sent; rotating returns the new secret (the old one signs 24 h more)."""
    changes = data.changes()
    event_types = _check_event_types(changes["event_types"]) if "event_types" in changes else None
    if "url" in changes:
        ssrf.check_url(changes["url"])
    webhook = get(session, account_id=account_id, webhook_id=webhook_id, lock=True)
    now = utcnow()
    if "url" in changes:
        webhook.url = changes["url"]
    if event_types is not None:
        webhook.event_types = event_types
    if "description" in changes:
        webhook.description = changes["description"]
    if "enabled" in changes:
        _set_enabled(webhook, changes["enabled"], now)
    secret = None
    if changes.get("rotate_secret"):
        secret = signing.new_secret()
        webhook.previous_secret, webhook.secret = webhook.secret, crypto.encrypt_text(secret)
        webhook.secret_rotated_at = now
    webhook.updated_at = now
    return webhook, secret


def delete(session: Session, *, account_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
    """Remove the endpoint with its deliveries and attempts."""
    session.delete(get(session, account_id=account_id, webhook_id=webhook_id, lock=True))


def health(session: Session, webhooks: list[Webhook]) -> dict[uuid.UUID, Health]:
    """Each endpoint's attempts in the last 24 hours and its pending deliveries."""
    return repo.health(session, [w.id for w in webhooks], utcnow() - HEALTH_WINDOW)


def list_deliveries(
    session: Session,
    *,
    account_id: uuid.UUID,
    webhook_id: uuid.UUID,
    page: PageParams,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], int, dict[uuid.UUID, list[WebhookAttempt]]]:
    """A page of an endpoint's deliveries, newest first, with their last attempts."""
    get(session, account_id=account_id, webhook_id=webhook_id)
    rows, total = repo.list_deliveries(session, webhook_id, page, status)
    return rows, total, repo.attempts_of(session, [r.id for r in rows], ATTEMPTS_SHOWN)


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    """The last attempts of one delivery, oldest first."""
    return repo.attempts_of(session, [delivery.id], ATTEMPTS_SHOWN)[delivery.id]


def _enabled(session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    webhook = get(session, account_id=account_id, webhook_id=webhook_id)
    if not webhook.enabled:
        raise Conflict("The webhook is disabled: enable it first", code="webhook_disabled")
    return webhook


def redeliver(
    session: Session, *, account_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again now, on a fresh schedule, with the same `webhook-id`."""
    _enabled(session, account_id, webhook_id)
    delivery = repo.get_delivery(session, account_id, webhook_id, delivery_id)
    if delivery is None:
        raise NotFound("Delivery not found")
    now = utcnow()
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    wake_dispatcher(session)
    return delivery


def request_test(session: Session, *, account_id: uuid.UUID, webhook_id: uuid.UUID) -> Job:
    """Ask for a test message to the endpoint (a job queues it as a delivery)."""
    webhook = _enabled(session, account_id, webhook_id)
    return jobs.enqueue(
        session, account_id=account_id, task=SEND_TEST, arguments={"webhook_id": str(webhook.id)}
    )


def request_recover(
    session: Session,
    *,
    account_id: uuid.UUID,
    webhook_id: uuid.UUID,
    since: datetime,
    until: datetime | None,
) -> Job:
    """Ask to resend the endpoint's failed deliveries created in [since, until)."""
    webhook = _enabled(session, account_id, webhook_id)
    now = utcnow()
    until = until or now
    problems = []
    if since < now - timedelta(days=RECOVER_MAX_DAYS):
        problems.append({"loc": ["since"], "msg": f"at most {RECOVER_MAX_DAYS} days ago"})
    if until <= since:
        problems.append({"loc": ["until"], "msg": "must be after since"})
    if problems:
        raise InvalidInput("The recovery range is out of bounds", details=problems)
    arguments = {
        "webhook_id": str(webhook.id),
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    return jobs.enqueue(session, account_id=account_id, task=RECOVER, arguments=arguments)


def send_test(session: Session, job: Job) -> dict[str, Any]:
    """Job body: a test message to the endpoint, due now (sent by the dispatcher)."""
    webhook = repo.get_webhook(session, job.account_id, uuid.UUID(job.arguments["webhook_id"]))
    if webhook is None:
        return {"delivery_id": None, "reason": "webhook deleted"}
    now = utcnow()
    data = {"webhook_id": str(webhook.id), "message": "A test message from Funnels."}
    body = deliveries.body_of(deliveries.TEST_EVENT_TYPE, now, data, None)
    row = deliveries.new_delivery(
        webhook, event_id=None, event_type=deliveries.TEST_EVENT_TYPE, body=body, now=now
    )
    session.add(WebhookDelivery(**row))
    wake_dispatcher(session)
    return {"delivery_id": str(row["id"])}


def recover(session: Session, job: Job) -> dict[str, Any]:
    """Job body: put the range's failed deliveries back in the queue, due now."""
    webhook_id = uuid.UUID(job.arguments["webhook_id"])
    if repo.get_webhook(session, job.account_id, webhook_id) is None:
        return {"requeued": 0, "reason": "webhook deleted"}
    count = repo.requeue_failed(
        session,
        webhook_id,
        since=datetime.fromisoformat(job.arguments["since"]),
        until=datetime.fromisoformat(job.arguments["until"]),
        limit=RECOVER_MAX_DELIVERIES,
        now=utcnow(),
    )
    if count:
        wake_dispatcher(session)
    return {"requeued": count, "more": count == RECOVER_MAX_DELIVERIES}


def oldest_undelivered(session: Session) -> datetime | None:
    """Creation time of the oldest pending delivery to an enabled endpoint (all accounts)."""
    return repo.oldest_undelivered(session)


def reencrypt_secrets(session: Session) -> int:
    """Re-encrypt every endpoint's signing secrets under the first key; how many endpoints."""
    webhooks = repo.all_for_update(session)
    for webhook in webhooks:
        webhook.secret = crypto.rotate_text(webhook.secret)
        if webhook.previous_secret is not None:
            webhook.previous_secret = crypto.rotate_text(webhook.previous_secret)
    return len(webhooks)
