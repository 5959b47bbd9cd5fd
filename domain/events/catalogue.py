"""The catalogue: every event type, registered in one place from the contexts that own them.

A context defines its payload models and EVENT_TYPES in its own events.py; adding a type is
adding it there (and importing the module here once). Recording checks every event against
this catalogue; webhook subscriptions are checked with is_known.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from domain.contacts import events as contacts
from domain.integrations import events as integrations
from domain.orders import events as orders
from domain.shared.events import EventPayload, EventType, InvalidEvent, UnknownEventType

_TYPES: dict[str, EventType] = {}


def register(*types: EventType) -> None:
    """Add event types (a context's, or a test suite's own); a name is defined once."""
    for event_type in types:
        known = _TYPES.get(event_type.name)
        if known is not None and known != event_type:
            raise ValueError(f"event type {event_type.name} is defined twice")
        _TYPES[event_type.name] = event_type


register(*orders.EVENT_TYPES, *contacts.EVENT_TYPES, *integrations.EVENT_TYPES)


def catalogue() -> list[EventType]:
    """Every known event type, by name."""
    return sorted(_TYPES.values(), key=lambda t: t.name)


def is_known(name: str) -> bool:
    """Whether name is an event type of the catalogue."""
    return name in _TYPES


def get(name: str) -> EventType:
    """The catalogue entry of name; UnknownEventType if there is none."""
    try:
        return _TYPES[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}: add it to the catalogue") from None


def parse(name: str, payload: dict[str, Any] | EventPayload) -> EventPayload:
    """The payload as its type's model; InvalidEvent if it does not fit."""
    model = get(name).payload
    if isinstance(payload, model):
        return payload
    data = payload.model_dump() if isinstance(payload, EventPayload) else payload
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"payload of {name} does not fit {model.__name__}: {exc}") from exc


def validate(name: str, payload: dict[str, Any] | EventPayload) -> dict[str, Any]:
    """The payload checked against its type, as the JSON stored with the event."""
    return parse(name, payload).model_dump(mode="json")


def schema_of(event_type: EventType) -> dict[str, Any]:
    """The JSON schema of an event type's payload."""
    return event_type.payload.model_json_schema()
