"""The feed's table: one cursor per named consumer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, utcnow
from domain.shared.events import Xid8


class EventConsumer(Base):
    """Where a consumer is in the feed: it has handled every event up to (tx_id, event_id).

    Platform-wide (not an account's): a consumer reads every account's events.
    """

    __tablename__ = "event_consumers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_tx_id: Mapped[int] = mapped_column(Xid8(), server_default=text("'0'::xid8"))
    last_event_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
