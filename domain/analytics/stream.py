"""The durable queue between ingestion and the database: one Redis stream, one entry per batch.

The API appends an accepted request's events as one entry; drain workers read the stream
through a consumer group, insert the events and acknowledge the entry after commit. This
module is the entry's format, shared by both sides.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

STREAM_KEY = "analytics:events"
GROUP = "drain"

# What one stored event says, as the ingestion validated it (analytics_events columns
# without those the database fills: seq, tx_id, visitor_ordinal, received_at, account_id).
EVENT_FIELDS = (
    "event_id",
    "type",
    "source",
    "funnel_id",
    "step_id",
    "page_id",
    "visitor_id",
    "session_id",
    "occurred_at",
    "amount_cents",
    "currency",
    "order_id",
    "ab_test_id",
    "variant_id",
    "properties",
)


def encode_entry(
    account_id: uuid.UUID, events: list[dict[str, Any]], received_at: datetime
) -> dict[str, str]:
    """The stream entry's fields for one accepted request (uuids and times as strings)."""
    unknown = {key for event in events for key in event} - set(EVENT_FIELDS)
    if unknown:
        raise ValueError(f"not event fields: {sorted(unknown)}")
    return {
        "account_id": str(account_id),
        "received_at": received_at.isoformat(),
        "events": json.dumps(events, default=str, separators=(",", ":")),
    }


def decode_entry(fields: dict[str, str]) -> tuple[uuid.UUID, datetime, list[dict[str, Any]]]:
    """(account_id, received_at, events) of a stream entry; values stay as JSON gave them."""
    events: list[dict[str, Any]] = json.loads(fields["events"])
    return uuid.UUID(fields["account_id"]), datetime.fromisoformat(fields["received_at"]), events
