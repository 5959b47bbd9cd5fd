"""Helpers of the analytics drain's tests: funnels, events appended as the API appends them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import func, select

from domain.analytics import stream
from domain.analytics.models import AnalyticsEvent, AnalyticsVisitor
from domain.funnels.models import Funnel
from domain.shared.db import unit_of_work, utcnow


def make_funnel(account_id: uuid.UUID) -> uuid.UUID:
    """A bare funnel row of the account (the drain only asks whose it is)."""
    funnel_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            Funnel(
                id=funnel_id,
                account_id=account_id,
                name="Tracked",
                slug=f"tracked-{funnel_id.hex[:12]}",
                funnel_type="sales",
            )
        )
    return funnel_id


def event(funnel_id: uuid.UUID, event_id: str, visitor: str = "v1", **extra: Any) -> dict[str, Any]:
    """A page view as the ingestion validated it (stream.EVENT_FIELDS keys)."""
    return {
        "event_id": event_id,
        "type": "page_view",
        "funnel_id": str(funnel_id),
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "occurred_at": (extra.pop("occurred_at", None) or utcnow()).isoformat(),
        **extra,
    }


def send(
    r: redis.Redis, account_id: uuid.UUID, events: list[dict[str, Any]], at: datetime | None = None
) -> str:
    """Append one entry as the API does; its id."""
    entry = stream.encode_entry(account_id, events, at or utcnow())
    return str(r.xadd(stream.STREAM_KEY, entry))  # type: ignore[arg-type]


def stored(account_id: uuid.UUID) -> dict[str, int]:
    """event_id -> how many rows the account has of it."""
    with unit_of_work() as session:
        rows = session.execute(
            select(AnalyticsEvent.event_id, func.count())
            .where(AnalyticsEvent.account_id == account_id)
            .group_by(AnalyticsEvent.event_id)
        )
        return {event_id: count for event_id, count in rows}


def ordinals(account_id: uuid.UUID) -> dict[str, int]:
    """visitor_id -> ordinal of the account's visitors."""
    with unit_of_work() as session:
        rows = session.execute(
            select(AnalyticsVisitor.visitor_id, AnalyticsVisitor.ordinal).where(
                AnalyticsVisitor.account_id == account_id
            )
        )
        return {visitor_id: ordinal for visitor_id, ordinal in rows}
