"""Domain events: an append-only table written in the same transaction as the change.

Every event type is in the catalogue (domain/events/catalogue.py) with a typed payload
model kept by the context that owns it; recording an unknown type or a payload that does
not fit its model is a programming error and raises. Readers take events through the feed
(domain/events/feed.py), never by querying this table on their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Identity, Index, String, cast, text
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from domain.shared.db import Base, TenantMixin, utcnow


class Xid8(UserDefinedType[int]):
    """PostgreSQL's xid8 (a 64-bit transaction id that never wraps), as a Python int."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        """The column type in DDL."""
        return "XID8"

    def bind_expression(self, bindvalue: Any) -> ColumnElement[int]:
        """Parameters are sent as text and cast: there is no int = xid8 operator."""
        return cast(bindvalue, self)

    def bind_processor(self, dialect: Dialect) -> Any:  # noqa: ARG002 - SQLAlchemy's signature
        """int -> the text PostgreSQL parses as xid8."""
        return lambda value: None if value is None else str(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:  # noqa: ARG002
        """psycopg hands xid8 over as text."""
        return lambda value: None if value is None else int(value)


# Reflection (Alembic's drift check) then knows the type instead of skipping the column.
ischema_names.setdefault("xid8", Xid8)


class DomainEvent(TenantMixin, Base):
    """Something that happened (order.paid, contact.created, ...); never updated.

    tx_id is the recording transaction's id: the feed reads in (tx_id, id) order and only
    below the oldest transaction still running, so an event whose transaction commits late
    is never skipped (see docs/events.md). Rows are deleted only by the retention purge.
    """

    __tablename__ = "domain_events"
    __table_args__ = (
        Index("ix_domain_events_account_id_type", "account_id", "type"),
        Index("ix_domain_events_tx_id_id", "tx_id", "id"),
        # Retention finds old rows by time; BRIN is tiny and cheap on an append-only table.
        Index("ix_domain_events_occurred_at", "occurred_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]
    tx_id: Mapped[int] = mapped_column(Xid8(), server_default=text("pg_current_xact_id()"))


class EventPayload(BaseModel):
    """Base of every event's payload model: known fields only, frozen once recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class EventType:
    """One entry of the catalogue: its name, when it fires, its payload, who owns it."""

    name: str
    fires: str
    payload: type[EventPayload]
    context: str


class InvalidEvent(ValueError):
    """An event that may not be recorded: a bug in the recording code, never bad input."""


class UnknownEventType(InvalidEvent):
    """The type is not in the catalogue."""


def record(
    session: Session,
    *,
    account_id: uuid.UUID,
    type: str,
    payload: dict[str, Any] | EventPayload,
    subject_id: uuid.UUID | None = None,
) -> DomainEvent:
    """Append an event to the caller's transaction; its payload is checked against its type.

    Raises UnknownEventType or InvalidEvent (programming errors). Consumers are woken right
    after the commit.
    """
    # Imported here: the catalogue imports every context's events module, which import this.
    from domain.events import catalogue, feed

    event = DomainEvent(
        account_id=account_id,
        type=type,
        subject_id=subject_id,
        payload=catalogue.validate(type, payload),
        occurred_at=utcnow(),
    )
    session.add(event)
    feed.wake_after_commit(session)
    return event
