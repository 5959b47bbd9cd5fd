"""Use cases of the events context: the catalogue for the API, consumer lags, retention."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import domain.events.consumers  # noqa: F401 - every consumer registered, for lags
from domain.events import catalogue, feed
from domain.events import repository as repo
from domain.shared.events import EventType
from domain.shared.schemas import PageParams


def list_types(page: PageParams) -> tuple[list[EventType], int]:
    """A page of the catalogue, by name."""
    types = catalogue.catalogue()
    return types[page.offset : page.offset + page.page_size], len(types)


def consumer_lags(session: Session) -> dict[str, int]:
    """Per consumer, how many committed events it has not consumed yet (for /metrics).

    Covers every cursor in the database and every consumer registered in this process
    (one that never ran is behind every event).
    """
    lags = repo.lags(session)
    missing = [c.name for c in feed.registered() if c.name not in lags]
    if missing:
        total = repo.count_all(session)
        lags.update({name: total for name in missing})
    return dict(sorted(lags.items()))


def purge_expired(session: Session, *, now: datetime, retention_days: int, limit: int) -> int:
    """Delete up to limit events older than retention that every consumer has read.

    Registered consumers without a cursor get one first, so they hold their events too.
    How many were deleted.
    """
    for consumer in feed.registered():
        repo.ensure_cursor(session, consumer.name, start=consumer.start, now=now)
    return repo.delete_expired(
        session,
        before=now - timedelta(days=retention_days),
        through=repo.oldest_cursor(session),
        limit=limit,
    )


def redact_contact_email(session: Session, *, account_id: uuid.UUID, contact_id: uuid.UUID) -> int:
    """Erasure: events about the contact keep their shape, the address becomes `[erased]`.

    The feed is append-only except for this: an erased person's address must not reach a
    consumer (an outgoing webhook) after the erasure.
    """
    return repo.redact_email(session, account_id, contact_id, "[erased]")
