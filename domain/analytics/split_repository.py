"""Every query of split tests: tests and variants, the pages they hold, and the result counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.analytics.split_models import HOLDING_STATUSES, AbTest, AbTestVariant


def get(
    session: Session, account_id: uuid.UUID, test_id: uuid.UUID, *, for_update: bool = False
) -> AbTest | None:
    """One of the account's tests; for_update locks its row and reloads it."""
    stmt = select(AbTest).where(AbTest.account_id == account_id, AbTest.id == test_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def variants_of(session: Session, test_id: uuid.UUID) -> list[AbTestVariant]:
    """A test's variants in their fixed order (the control first)."""
    stmt = (
        select(AbTestVariant)
        .where(AbTestVariant.ab_test_id == test_id)
        .order_by(AbTestVariant.position)
    )
    return list(session.scalars(stmt))


def active_test_on_step(
    session: Session, account_id: uuid.UUID, step_id: uuid.UUID, *, exclude: uuid.UUID
) -> uuid.UUID | None:
    """Another running or paused test of this step, if any."""
    stmt = select(AbTest.id).where(
        AbTest.account_id == account_id,
        AbTest.step_id == step_id,
        AbTest.status.in_(HOLDING_STATUSES),
        AbTest.id != exclude,
    )
    return session.scalars(stmt).first()


def serving_test(
    session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID, step_id: uuid.UUID
) -> AbTest | None:
    """The test that decides a step's page: the running one, else the last completed one if
    it declared a winner. A paused test serves nothing (the step's own page)."""
    base = select(AbTest).where(
        AbTest.account_id == account_id, AbTest.funnel_id == funnel_id, AbTest.step_id == step_id
    )
    running = session.scalars(base.where(AbTest.status == "running")).first()
    if running is not None:
        return running
    # The last test completed on the step decides: its winner, or (none declared) nothing.
    latest = base.where(AbTest.status == "completed").order_by(
        AbTest.completed_at.desc(), AbTest.id
    )
    last = session.scalars(latest.limit(1)).first()
    return last if last is not None and last.winner_variant_id is not None else None


def tests_holding_page(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID
) -> list[uuid.UUID]:
    """Running or paused tests with a variant on this page."""
    stmt = (
        select(AbTest.id)
        .join(AbTestVariant, AbTestVariant.ab_test_id == AbTest.id)
        .where(
            AbTestVariant.account_id == account_id,
            AbTestVariant.page_id == page_id,
            AbTest.status.in_(HOLDING_STATUSES),
        )
        .order_by(AbTest.id)
    )
    return list(session.scalars(stmt))


# Each visitor's first exposure of the test (the earliest; equal instants by event id)
# decides their variant; a conversion is a goal event of that visitor after it (their
# latest goal event is later than the first exposure: one hash join, no lookup per visitor). Both
# sides read indexes: the exposures ix_analytics_events_ab_test, the goal events the
# funnel-time index (account, funnel, occurred_at) from the test's start.
_COUNTS = text(
    """
    WITH first_exposure AS (
        SELECT DISTINCT ON (visitor_ordinal) visitor_ordinal, variant_id, occurred_at
        FROM analytics_events
        WHERE account_id = :account_id AND ab_test_id = :test_id AND type = 'exposure'
          AND variant_id = ANY(:variant_ids)
          AND occurred_at >= :since AND occurred_at <= :until
        ORDER BY visitor_ordinal, occurred_at, event_id
    ),
    goal AS (
        SELECT visitor_ordinal, max(occurred_at) AS last_at
        FROM analytics_events
        WHERE account_id = :account_id AND funnel_id = :funnel_id
          AND occurred_at > :since
          AND type = ANY(:goal_types)
          AND (CAST(:goal_step_id AS uuid) IS NULL OR step_id = CAST(:goal_step_id AS uuid))
          AND (CAST(:goal_name AS text) IS NULL OR properties ->> 'name' = CAST(:goal_name AS text))
        GROUP BY visitor_ordinal
    )
    SELECT f.variant_id,
           count(*) AS exposures,
           count(*) FILTER (WHERE g.last_at > f.occurred_at) AS conversions
    FROM first_exposure f LEFT JOIN goal g USING (visitor_ordinal)
    GROUP BY f.variant_id
    """
)


def variant_counts(
    session: Session,
    *,
    test: AbTest,
    variant_ids: Sequence[uuid.UUID],
    since: datetime,
    until: datetime,
) -> dict[uuid.UUID, tuple[int, int]]:
    """(exposures, conversions) per variant, from raw events between since and until."""
    rows = session.execute(
        _COUNTS,
        {
            "account_id": test.account_id,
            "test_id": test.id,
            "funnel_id": test.funnel_id,
            "variant_ids": list(variant_ids),
            "since": since,
            "until": until,
            "goal_types": list(test.goal_event_types),
            "goal_step_id": test.goal_step_id,
            "goal_name": test.goal_name,
        },
    )
    return {row.variant_id: (row.exposures, row.conversions) for row in rows}
