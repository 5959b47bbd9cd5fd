"""Tracking bodies in, acceptance and realtime figures out (SPEC-FUN-004 #42, #43, #47)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from domain.shared.schemas import DateTimeParam, Id, VisitorRef

MAX_BATCH_EVENTS = 500
# A small object: what a page adds (a button's name, a UTM tag), not a document.
MAX_PROPERTIES = 32
MAX_PROPERTY_CHARS = 200
# Flat and bounded by its schema (no size check in Python: the batch path validates 500 at a
# time in pydantic-core). No NUL: PostgreSQL's jsonb refuses it.
PropertyKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
PropertyValue = (
    Annotated[str, StringConstraints(max_length=MAX_PROPERTY_CHARS, pattern=r"^[^\x00]*$")]
    | int
    | float
    | bool
    | None
)

ClientEventType = Literal["page_view", "optin", "checkout_started", "conversion", "exposure"]
# Recorded by the server from paid charges and upsell answers (the events feed), never a client.
SERVER_EVENT_TYPES = frozenset({"purchase", "upsell_accepted", "upsell_declined"})

EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="the client's id of this event (1-64 of letters, digits, . _ : -); "
        "a resent event is stored once",
    ),
]
# Strict models take no strings for times; JSON has nothing else (the RFC 3339 form is checked).
EventTime = Annotated[DateTimeParam, Field(strict=False)]
PublishableKey = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$", description="pk_...")
]


class TrackEventIn(BaseModel):
    """One tracked event as a page sends it.

    Strict and closed like an InputModel, without its walks over the whole body (the hot
    path): only `properties` can hold a NUL (the other strings have patterns), checked there.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: EventId
    type: ClientEventType = Field(
        description="purchase, upsell_accepted and upsell_declined are recorded by the server "
        "from the paid charge (422 from a client)"
    )
    funnel_id: Id
    step_id: Id | None = None
    page_id: Id | None = None
    visitor_id: VisitorRef
    session_id: VisitorRef
    occurred_at: EventTime | None = Field(
        default=None,
        description="RFC 3339 with a zone; default: when received. Accepted from "
        "ANALYTICS_LATE_EVENT_DAYS ago to ANALYTICS_FUTURE_SKEW_SECONDS ahead",
    )
    ab_test_id: Id | None = Field(default=None, description="required with type exposure")
    variant_id: Id | None = Field(default=None, description="required with type exposure")
    properties: dict[PropertyKey, PropertyValue] = Field(
        default_factory=dict,
        description=f"a small flat object: at most {MAX_PROPERTIES} keys of up to 64 "
        f"characters; values strings of up to {MAX_PROPERTY_CHARS} characters, numbers, "
        "booleans or null",
        max_length=MAX_PROPERTIES,
    )

    @field_validator("type", mode="before")
    @classmethod
    def _not_a_server_fact(cls, value: Any) -> Any:
        """A purchase or upsell answer is the server's fact: say so, not just "invalid"."""
        if isinstance(value, str) and value in SERVER_EVENT_TYPES:
            raise ValueError(f"{value} events are recorded by the server, not sent by clients")
        return value

    @model_validator(mode="after")
    def _exposure_names_its_test(self) -> TrackEventIn:
        """An exposure names its split test and variant."""
        if self.type == "exposure" and (self.ab_test_id is None or self.variant_id is None):
            raise ValueError("an exposure needs ab_test_id and variant_id")
        return self


class TrackIn(TrackEventIn):
    """POST /track: one event, optionally with the publishable key (navigator.sendBeacon)."""

    key: PublishableKey | None = Field(
        default=None, description="the publishable key, when not sent as header or query"
    )


# The batch keeps each event unparsed so one bad event is a rejection by index, not a 422 of
# the whole batch; the document still shows the event's schema.
_EVENT_SCHEMA = TrackEventIn.model_json_schema()


class TrackBatchIn(BaseModel):
    """POST /track/batch: up to 500 events, each checked on its own.

    Not an InputModel: its NUL check over the whole body would refuse the batch for one
    event (each event is an InputModel itself), and `key`'s pattern admits no NUL.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[Annotated[Any, WithJsonSchema(_EVENT_SCHEMA)]] = Field(
        min_length=1, max_length=MAX_BATCH_EVENTS
    )
    key: PublishableKey | None = Field(
        default=None, description="the publishable key, when not sent as header or query"
    )


class TrackAcceptedOut(BaseModel):
    """An accepted event: in the durable queue, stored by the drain workers shortly."""

    accepted: Literal[1] = 1
    event_id: str


class RejectionOut(BaseModel):
    """Why one event of a batch was refused (the others were still accepted)."""

    index: int = Field(description="position of the event in `events`, from 0")
    code: str = Field(description="`validation_error`, `occurred_at_too_old`, ... ")
    error: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class BatchAcceptedOut(BaseModel):
    """A batch: how many events were queued, and each refused one by index."""

    accepted: int
    rejected: list[RejectionOut]


class MinuteOut(BaseModel):
    """Events received in one minute."""

    minute: datetime = Field(description="the minute's start, in the account's time zone")
    events: int


class RealtimeOut(BaseModel):
    """The last minutes of a funnel, from counters written when events are accepted."""

    funnel_id: uuid.UUID
    time_zone: str = Field(description="the account's IANA time zone: minutes are shown in it")
    as_of: datetime = Field(description="when these figures were read (cached up to 5 s)")
    active_minutes: int = Field(description="the window of active_visitors, minutes")
    active_visitors: int = Field(
        description="distinct visitors with an event received in the last active_minutes "
        "(a HyperLogLog: exact for small counts, within about 1% beyond)"
    )
    events_per_minute: list[MinuteOut] = Field(description="oldest first, the current minute last")


class TrackBatchValid(BaseModel):
    """A batch whose every event is valid: read straight from JSON into events (the fast path)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[TrackEventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)
    key: PublishableKey | None = None
