"""The contacts context's events: leads captured and enriched, opt-ins given.

The catalogue (domain/events/catalogue.py) registers EVENT_TYPES.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from domain.shared.events import EventPayload, EventType


class ContactChanged(EventPayload):
    """contact.created, contact.updated"""

    contact_id: uuid.UUID = Field(description="the contact (GET /api/v1/contacts/{id})")
    email: str = Field(description="lower-cased")
    source: str | None = Field(description="where the contact was first captured")


class ContactOptedIn(EventPayload):
    """contact.opted_in"""

    contact_id: uuid.UUID = Field(description="the contact (GET /api/v1/contacts/{id})")
    funnel_id: uuid.UUID = Field(description="the funnel whose page took the opt-in")
    step_id: uuid.UUID = Field(description="the opt-in step whose form was submitted")
    email_consent: bool = Field(description="whether the visitor agreed to receive email")
    visitor_id: str | None = Field(default=None, description="the visitor cookie, if any")
    session_id: str | None = Field(default=None, description="the session cookie, if any")


def _contacts(name: str, fires: str, payload: type[EventPayload]) -> EventType:
    """A catalogue entry of the contacts context."""
    return EventType(name=name, fires=fires, payload=payload, context="contacts")


EVENT_TYPES = (
    _contacts("contact.created", "A new email was captured for the account.", ContactChanged),
    _contacts(
        "contact.updated",
        "A known contact was captured again (new details fill in, known ones are kept).",
        ContactChanged,
    ),
    _contacts(
        "contact.opted_in",
        "A visitor submitted an opt-in form on a funnel step (recorded by the server).",
        ContactOptedIn,
    ),
)
