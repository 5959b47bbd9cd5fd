"""The integrations context's events.

The catalogue (domain/events/catalogue.py) registers EVENT_TYPES.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from domain.shared.events import EventPayload, EventType


class WebhookEndpointDisabled(EventPayload):
    """webhook.endpoint_disabled"""

    webhook_id: uuid.UUID = Field(description="the webhook endpoint")
    url: str = Field(description="the endpoint's URL")
    reason: str = Field(description="e.g. failing for 5 days, or answered 410 Gone")


EVENT_TYPES = (
    EventType(
        name="webhook.endpoint_disabled",
        fires="An outgoing webhook endpoint was disabled after failing deliveries.",
        payload=WebhookEndpointDisabled,
        context="integrations",
    ),
)
