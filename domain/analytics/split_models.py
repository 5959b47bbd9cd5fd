"""Tables of split tests: a test on one funnel step, its page variants, and the exposure index.

No foreign key to funnel steps or pages: a test is history that outlives a deleted step or
(once completed) a deleted page, and its results are read from raw events by id. The pages
a running or paused test serves are held by the check registered with the pages module
(domain/analytics/split_service.py), not by a foreign key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.analytics.models import AnalyticsEvent
from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin

SplitTestStatus = Literal["draft", "running", "paused", "completed"]
SPLIT_TEST_STATUSES: tuple[str, ...] = get_args(SplitTestStatus)
# `step`: the goal of a step (the test's own or a later one); `event`: a custom `conversion`.
GoalKind = Literal["step", "event"]
GOAL_KINDS: tuple[str, ...] = get_args(GoalKind)
# Statuses whose variants' pages must stay published (resume must find them).
HOLDING_STATUSES = ("running", "paused")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AbTest(IdMixin, TenantMixin, TimestampMixin, Base):
    """A split test of one funnel step between published pages, with its goal and lifecycle."""

    __tablename__ = "ab_tests"
    __table_args__ = (
        CheckConstraint(_in("status", SPLIT_TEST_STATUSES), name="status_known"),
        CheckConstraint(_in("goal_kind", GOAL_KINDS), name="goal_kind_known"),
        # One test at a time serves a step: at most one running or paused test per step.
        Index(
            "uq_ab_tests_active_step",
            "step_id",
            unique=True,
            postgresql_where=text("status IN ('running', 'paused')"),
        ),
        Index("ix_ab_tests_account_step", "account_id", "funnel_id", "step_id"),
    )

    funnel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funnels.id", ondelete="CASCADE"))
    step_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[SplitTestStatus] = mapped_column(String(16), default="draft")
    goal_kind: Mapped[GoalKind] = mapped_column(String(16))
    # The step whose conversion counts (kind `step`), and the event types that are it.
    goal_step_id: Mapped[uuid.UUID | None]
    goal_event_types: Mapped[list[Any]]
    # Kind `event`: only `conversion` events whose properties.name is this (None: any).
    goal_name: Mapped[str | None] = mapped_column(String(100))
    winner_variant_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class AbTestVariant(IdMixin, TenantMixin, Base):
    """One page of a test with its share of the traffic; position 0 is the control."""

    __tablename__ = "ab_test_variants"
    __table_args__ = (
        UniqueConstraint("ab_test_id", "position"),
        UniqueConstraint("ab_test_id", "page_id"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
        # The pages module asks whether a page is held by a running test.
        Index("ix_ab_test_variants_account_page", "account_id", "page_id"),
    )

    ab_test_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    page_id: Mapped[uuid.UUID]
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    # The page's published version pinned when the test first started (as a funnel snapshot).
    page_version: Mapped[int | None]


# Results read each variant's first exposures by test and visitor: a partial index on the
# partitioned parent (PostgreSQL builds it on every partition, and on each new one).
Index(
    "ix_analytics_events_ab_test",
    AnalyticsEvent.account_id,
    AnalyticsEvent.ab_test_id,
    AnalyticsEvent.visitor_ordinal,
    AnalyticsEvent.occurred_at,
    postgresql_where=text("ab_test_id IS NOT NULL"),
)
