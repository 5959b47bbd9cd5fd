"""Request and response shapes of outgoing webhooks (routes #60-#65, test, recover)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from domain.integrations.webhooks.models import DeliveryStatus
from domain.shared.schemas import DateTimeParam, InputModel, OutputModel, PatchModel

EventTypeName = Annotated[str, Field(min_length=1, max_length=100, examples=["order.paid"])]
EventTypes = Annotated[
    list[EventTypeName],
    Field(
        min_length=1,
        max_length=100,
        description="event types of the catalogue (GET /api/v1/events/types)",
    ),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        examples=["https://example.com/hooks/funnels"],
        description="https URL whose host resolves only to public addresses",
    ),
]
BodyDateTime = Annotated[DateTimeParam, Field(strict=False)]


class WebhookIn(InputModel):
    """A new endpoint: where to send which events."""

    url: Url
    event_types: EventTypes
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True


class WebhookPatch(PatchModel):
    """Fields of an endpoint to change; `rotate_secret` issues a new signing secret."""

    nullable = frozenset({"description"})

    url: Url | None = None
    event_types: EventTypes | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    rotate_secret: bool | None = Field(
        default=None,
        description="true: a new secret is returned once; the old one keeps signing for 24 hours",
    )


class WebhookHealth(OutputModel):
    """How deliveries to the endpoint are going (for operators and the account)."""

    attempts_24h: int = Field(description="attempts in the last 24 hours")
    success_rate_24h: float | None = Field(
        description="share of those attempts answered 2xx (null without attempts)"
    )
    pending_deliveries: int
    oldest_undelivered_at: datetime | None = Field(
        description="creation time of the oldest delivery still pending"
    )
    failing_since: datetime | None = Field(
        description="start of the current run of failed attempts (5 days of it disables)"
    )


class WebhookOut(OutputModel):
    """An endpoint (its secret is shown only when created or rotated)."""

    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    secret_rotated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    health: WebhookHealth


class WebhookWithSecretOut(WebhookOut):
    """An endpoint with its signing secret: the one answer that shows it."""

    secret: str = Field(description="whsec_...: store it now, it is not shown again")


class AttemptOut(OutputModel):
    """One try of a delivery."""

    id: uuid.UUID
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    succeeded: bool
    response_excerpt: str | None
    error: str | None


class DeliveryOut(OutputModel):
    """One event (or test message) to the endpoint, with its attempts."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str = Field(description="the `webhook-id` header, the same on every attempt")
    event_id: int | None
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="attempts of the current schedule")
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] = Field(description="every attempt, oldest first (last 20)")


class RecoverIn(InputModel):
    """Resend the endpoint's failed deliveries created in [since, until)."""

    since: BodyDateTime
    until: BodyDateTime | None = None


class WebhookJobOut(OutputModel):
    """Accepted: a job does the work (poll /api/v1/jobs/{job_id})."""

    webhook_id: uuid.UUID
    job_id: uuid.UUID
