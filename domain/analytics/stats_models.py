"""The rollup's output and its state: funnel_step_stats rows and the job's watermark.

funnel_step_stats holds one row per (account, funnel, step, local day, currency): the counts
row (currency "") with the day's visitors as a roaring bitmap, and one revenue row per
currency (docs/analytics.md). No foreign keys: a row is derived data, recomputed whole from
raw events, and outlives a deleted step like the raw events do.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.analytics.models import AnalyticsEvent
from domain.shared.db import Base, utcnow
from domain.shared.events import Xid8

# A run finds every stored event of the sessions its new events belong to (entries and
# exits need the whole session); without this it would scan a funnel's history.
Index(
    "ix_analytics_events_session",
    AnalyticsEvent.account_id,
    AnalyticsEvent.funnel_id,
    AnalyticsEvent.session_id,
)


class FunnelStepStat(Base):
    """One step on one local day: the counts row (currency "") or one currency's revenue."""

    __tablename__ = "funnel_step_stats"

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    funnel_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    step_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    unique_visitors: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Roaring's portable serialization of the visitor ordinals (pyroaring BitMap).
    visitors: Mapped[bytes | None] = mapped_column(LargeBinary)
    entries: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    exits: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    optins: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    checkouts: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    purchases: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    conversions: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    upsells_accepted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    upsells_declined: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    bump_purchases: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    revenue_cents: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # The IANA zone whose calendar day `day` is: a zone change leaves older days in theirs.
    zone: Mapped[str] = mapped_column(String(64))
    rolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnalyticsRollupState(Base):
    """Per account: the zone its stats are rolled in now (a change re-rolls what is retained)."""

    __tablename__ = "analytics_rollup_state"

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    zone_since: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnalyticsRollupCursor(Base):
    """The job's watermark: every event committed at or before (last_tx_id, last_seq) is rolled.

    One row (name "rollup"); fresh_as_of is when the job last caught up: every event whose
    transaction had committed by then is in the stats of every account.
    """

    __tablename__ = "analytics_rollup_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_tx_id: Mapped[int] = mapped_column(Xid8())
    last_seq: Mapped[int] = mapped_column(BigInteger)
    fresh_as_of: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
