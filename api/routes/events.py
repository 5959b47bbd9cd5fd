"""The event catalogue: every type the feed carries, with its payload's JSON schema."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentPrincipal, Pagination
from domain.events import service as events
from domain.events.schemas import EventTypeOut
from domain.shared.schemas import Page

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("/types", response_model=Page[EventTypeOut])
def list_event_types(_principal: CurrentPrincipal, page: Pagination) -> Page[EventTypeOut]:
    """The event types, by name: when each fires and its payload's JSON schema (the types
    webhook subscriptions name)."""
    types, total = events.list_types(page)
    return Page[EventTypeOut](
        items=[EventTypeOut.of(t) for t in types],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )
