"""Output models of the events context."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from domain.events import catalogue
from domain.shared.events import EventType


class EventTypeOut(BaseModel):
    """One entry of the event catalogue."""

    type: str = Field(examples=["order.paid"])
    context: str = Field(description="the context that records it", examples=["orders"])
    description: str = Field(description="when it fires")
    payload_schema: dict[str, Any] = Field(description="JSON schema of the event's payload")

    @classmethod
    def of(cls, event_type: EventType) -> EventTypeOut:
        """The catalogue entry as the API shows it."""
        return cls(
            type=event_type.name,
            context=event_type.context,
            description=event_type.fires,
            payload_schema=catalogue.schema_of(event_type),
        )
