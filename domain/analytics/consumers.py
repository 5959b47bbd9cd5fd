"""Server facts: purchases, upsell answers and opt-ins from the events feed, as analytics events.

The consumer `analytics.facts` turns each domain event into one analytics event with
source 'server' and the event id `srv:<domain event id>`, stored through the drain's insert
path in the feed batch's transaction: the cursor and the rows commit together, and the
unique key makes a replay harmless. Money is what the charge captured, never a client's
figure. A fact without a funnel (an order placed outside one) has nothing to count in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from domain.analytics import store
from domain.events import feed
from domain.shared.events import DomainEvent

CONSUMER = "analytics.facts"


def _visitor(payload: dict[str, Any], fallback: str) -> tuple[str, str]:
    """The payload's visitor and session, or `fallback` for what was not sent."""
    return payload.get("visitor_id") or fallback, payload.get("session_id") or fallback


def _purchase(payload: dict[str, Any]) -> dict[str, Any]:
    visitor, session = _visitor(payload, f"order:{payload['order_id']}")
    return {
        "type": "purchase",
        "step_id": payload.get("step_id"),
        "visitor_id": visitor,
        "session_id": session,
        "amount_cents": payload["amount_cents"],
        "currency": payload["currency"],
        "order_id": payload["order_id"],
        "properties": {"bump_count": payload.get("bump_count", 0)},
    }


def _upsell(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def build(payload: dict[str, Any]) -> dict[str, Any]:
        visitor, session = _visitor(payload, f"order:{payload['order_id']}")
        return {
            "type": kind,
            "step_id": payload["step_id"],
            "visitor_id": visitor,
            "session_id": session,
            "amount_cents": payload.get("amount_cents"),
            "currency": payload.get("currency"),
            "order_id": payload["order_id"],
            "properties": {"offer_type": payload["offer_type"]},
        }

    return build


def _optin(payload: dict[str, Any]) -> dict[str, Any]:
    visitor, session = _visitor(payload, f"contact:{payload['contact_id']}")
    return {
        "type": "optin",
        "step_id": payload["step_id"],
        "visitor_id": visitor,
        "session_id": session,
        "properties": {"email_consent": payload["email_consent"]},
    }


FACTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "order.paid": _purchase,
    "upsell.accepted": _upsell("upsell_accepted"),
    "upsell.declined": _upsell("upsell_declined"),
    "contact.opted_in": _optin,
}


def analytics_event(event: DomainEvent) -> dict[str, Any] | None:
    """The analytics event of a domain event (stream.EVENT_FIELDS keys), None without a funnel."""
    if not event.payload.get("funnel_id"):
        return None
    return {
        "event_id": f"srv:{event.id}",
        "source": "server",
        "funnel_id": event.payload["funnel_id"],
        "occurred_at": event.occurred_at.isoformat(),
        **FACTS[event.type](event.payload),
    }


@feed.consumer(CONSUMER, types=FACTS)
def record_facts(session: Session, events: list[DomainEvent]) -> None:
    """Store the batch's facts once each (same insert path as the drain)."""
    entries = []
    for event in events:
        fact = analytics_event(event)
        if fact is not None:
            entries.append(store.Entry.of(event.account_id, event.occurred_at, [fact]))
    if entries:
        store.store(session, entries)
