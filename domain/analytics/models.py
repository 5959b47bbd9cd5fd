"""Raw tracking events and the per-account visitor ordinals the rollup's bitmaps count.

`analytics_events` is partitioned by month on `occurred_at` (the event's own time) and has
no foreign keys (ingest speed; SPEC "Module boundaries"); `account_id` always comes from
the key or token, never from the body. The monthly partitions are made ahead by beat;
the default partition catches what arrives before they exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, utcnow
from domain.shared.events import Xid8


class AnalyticsEvent(Base):
    """One tracked event, stored once per (account, client event id, event time)."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        # The partition key must be part of every unique key on a partitioned table.
        UniqueConstraint("account_id", "event_id", "occurred_at"),
        Index("ix_analytics_events_funnel_time", "account_id", "funnel_id", "occurred_at"),
        # The rollup reads what committed since its watermark (as the events feed does).
        Index("ix_analytics_events_tx", "tx_id", "seq"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    # Arrival order (a sequence default, so COPY fills it too). A partitioned table's
    # primary key must include the partition key.
    seq: Mapped[int] = mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        server_default=text("nextval('analytics_events_seq')"),
    )
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID]
    event_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    tx_id: Mapped[int] = mapped_column(Xid8(), server_default=text("pg_current_xact_id()"))
    type: Mapped[str] = mapped_column(String(32))
    # `client` (sent to /track) or `server` (recorded from the orders and contacts facts).
    source: Mapped[str] = mapped_column(String(16), server_default=text("'client'"))
    funnel_id: Mapped[uuid.UUID]
    step_id: Mapped[uuid.UUID | None]
    page_id: Mapped[uuid.UUID | None]
    visitor_id: Mapped[str] = mapped_column(String(64))
    visitor_ordinal: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    order_id: Mapped[uuid.UUID | None]
    ab_test_id: Mapped[uuid.UUID | None]
    variant_id: Mapped[uuid.UUID | None]
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )


class AnalyticsVisitor(Base):
    """A visitor's dense per-account number, so a day's visitors fit a roaring bitmap."""

    __tablename__ = "analytics_visitors"
    __table_args__ = (UniqueConstraint("account_id", "ordinal"),)

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ordinal: Mapped[int] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
