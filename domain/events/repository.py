"""Every query of the feed: cursors, commit-safe reads, lags, retention."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    delete,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.events.models import EventConsumer
from domain.shared.events import DomainEvent, Xid8

Position = tuple[int, int]
"""A place in the feed: (tx_id, event id); the feed is ordered by it."""

START = (0, 0)


def _xmin() -> ColumnElement[int]:
    """The oldest transaction still running when the statement started: every transaction
    below it has finished, so no event can still appear below it."""
    return func.pg_snapshot_xmin(func.pg_current_snapshot())


def _after(position: Position) -> ColumnElement[bool]:
    """Events after position in feed order (a row comparison the index answers)."""
    return tuple_(DomainEvent.tx_id, DomainEvent.id) > tuple_(
        literal(position[0], Xid8()), literal(position[1], BigInteger())
    )


def _at_or_before(position: Position) -> ColumnElement[bool]:
    """Events at or before position in feed order."""
    return tuple_(DomainEvent.tx_id, DomainEvent.id) <= tuple_(
        literal(position[0], Xid8()), literal(position[1], BigInteger())
    )


def settled_tail(session: Session) -> Position:
    """The last position no later commit can come before (where a consumer starting 'latest'
    begins)."""
    row = session.execute(
        select(DomainEvent.tx_id, DomainEvent.id)
        .where(DomainEvent.tx_id < _xmin())
        .order_by(DomainEvent.tx_id.desc(), DomainEvent.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else START


def ensure_cursor(
    session: Session, name: str, *, start: Literal["earliest", "latest"], now: datetime
) -> EventConsumer:
    """The consumer's cursor, created at the start of the feed (or its settled tail)."""
    cursor = session.get(EventConsumer, name, populate_existing=True)
    if cursor is not None:
        return cursor
    tx_id, event_id = settled_tail(session) if start == "latest" else START
    session.execute(
        insert(EventConsumer)
        .values(name=name, last_tx_id=tx_id, last_event_id=event_id, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    cursor = session.get(EventConsumer, name, populate_existing=True)
    assert cursor is not None
    return cursor


def read_after(session: Session, position: Position, limit: int) -> list[DomainEvent]:
    """The next events after position, in feed order, only from finished transactions."""
    return list(
        session.scalars(
            select(DomainEvent)
            .where(_after(position), DomainEvent.tx_id < _xmin())
            .order_by(DomainEvent.tx_id, DomainEvent.id)
            .limit(limit)
        )
    )


def advance(session: Session, cursor: EventConsumer, position: Position, now: datetime) -> None:
    """Move the cursor to position (in the transaction of the consumer's effect)."""
    cursor.last_tx_id, cursor.last_event_id = position
    cursor.updated_at = now
    cursor.last_error = cursor.last_error_at = None
    session.flush()


def note_error(session: Session, name: str, error: str, now: datetime) -> None:
    """Keep a consumer's last failure for operators (its cursor stays where it was)."""
    cursor = session.get(EventConsumer, name)
    if cursor is not None:
        cursor.last_error, cursor.last_error_at = error[:2000], now


def forget(session: Session, name: str) -> bool:
    """Drop a retired consumer's cursor, so it no longer holds events back from retention."""
    result = session.execute(delete(EventConsumer).where(EventConsumer.name == name))
    return int(getattr(result, "rowcount", 0) or 0) > 0


def lags(session: Session) -> dict[str, int]:
    """Per cursor, how many committed events are after it."""
    behind = (
        select(func.count())
        .select_from(DomainEvent)
        .where(
            tuple_(DomainEvent.tx_id, DomainEvent.id)
            > tuple_(EventConsumer.last_tx_id, EventConsumer.last_event_id)
        )
        .scalar_subquery()
    )
    return {name: count for name, count in session.execute(select(EventConsumer.name, behind))}


def count_all(session: Session) -> int:
    """How many events the table holds (a consumer with no cursor yet is behind them all)."""
    return session.scalar(select(func.count()).select_from(DomainEvent)) or 0


def oldest_cursor(session: Session) -> Position | None:
    """The position of the consumer furthest behind, or None without consumers."""
    row = session.execute(
        select(EventConsumer.last_tx_id, EventConsumer.last_event_id)
        .order_by(EventConsumer.last_tx_id, EventConsumer.last_event_id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def delete_expired(
    session: Session, *, before: datetime, through: Position | None, limit: int
) -> int:
    """Delete up to limit events that occurred before `before` and lie at or behind through
    (every consumer's cursor; None: no consumer).

    The table refuses deletes unless the transaction says it is the retention purge.
    """
    session.execute(text("SELECT set_config('funnels.events_retention', 'on', true)"))
    chosen = select(DomainEvent.id).where(DomainEvent.occurred_at < before).limit(limit)
    if through is not None:
        chosen = chosen.where(_at_or_before(through))
    result = session.execute(
        delete(DomainEvent).where(DomainEvent.id.in_(chosen.scalar_subquery()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def redact_email(
    session: Session, account_id: uuid.UUID, contact_id: uuid.UUID, placeholder: str
) -> int:
    """Replace the address in the events about a contact (erasure); how many events.

    The table's trigger refuses updates except while `funnels.events_erasure` is on, which
    this statement alone sets (and unsets) in the transaction.
    """
    session.execute(text("SELECT set_config('funnels.events_erasure', 'on', true)"))
    result = session.execute(
        update(DomainEvent)
        .where(
            DomainEvent.account_id == account_id,
            DomainEvent.payload["contact_id"].astext == str(contact_id),
            DomainEvent.payload.has_key("email"),
        )
        .values(payload=DomainEvent.payload.op("||")(func.jsonb_build_object("email", placeholder)))
        .execution_options(synchronize_session=False)
    )
    session.execute(text("SELECT set_config('funnels.events_erasure', 'off', true)"))
    return int(getattr(result, "rowcount", 0) or 0)
