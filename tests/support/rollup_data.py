"""Raw analytics events written as the drain would, and funnel_step_stats recomputed from
scratch in SQL: the rollup job's tests compare the two."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.accounts.models import Account
from domain.funnels.models import Funnel, FunnelStep
from domain.shared.db import unit_of_work

STEP_TYPES = ("optin", "order_form", "upsell", "downsell", "thank_you")


@dataclass(frozen=True)
class Shop:
    """An account with one funnel of five typed steps (ids as text, as events carry them)."""

    account_id: uuid.UUID
    funnel_id: str
    steps: dict[str, str]


def make_shop(zone: str = "UTC") -> Shop:
    """A fresh account in zone, with a funnel: optin, order form, upsell, downsell, thanks."""
    account_id, funnel_id = uuid.uuid4(), uuid.uuid4()
    steps = {kind: str(uuid.uuid4()) for kind in STEP_TYPES}
    with unit_of_work() as session:
        session.add(
            Account(
                id=account_id,
                name="Shop",
                slug=f"shop-{account_id.hex[:12]}",
                publishable_key=f"pk_test_{account_id.hex}",
                timezone=zone,
            )
        )
        session.flush()
        session.add(
            Funnel(
                id=funnel_id,
                account_id=account_id,
                name="F",
                slug=f"f-{funnel_id.hex[:8]}",
                funnel_type="sales",
            )
        )
        session.flush()
        for position, kind in enumerate(STEP_TYPES):
            session.add(
                FunnelStep(
                    id=uuid.UUID(steps[kind]),
                    account_id=account_id,
                    funnel_id=funnel_id,
                    position=position,
                    name=kind,
                    slug=kind.replace("_", "-"),
                    step_type=kind,
                )
            )
    return Shop(account_id, str(funnel_id), steps)


def set_zone(account_id: uuid.UUID, zone: str) -> None:
    """Change the account's time zone (as a settings PATCH does)."""
    with unit_of_work() as session:
        session.execute(
            text("UPDATE accounts SET timezone = :zone WHERE id = :id"),
            {"zone": zone, "id": account_id},
        )


_INSERT = text(
    "INSERT INTO analytics_events (account_id, event_id, occurred_at, type, source, funnel_id,"
    " step_id, visitor_id, visitor_ordinal, session_id, amount_cents, currency, properties)"
    " VALUES (:account_id, :event_id, :occurred_at, :type, :source, :funnel_id, :step_id,"
    " :visitor_id, :visitor_ordinal, :session_id, :amount_cents, :currency,"
    " CAST(:properties AS jsonb)) ON CONFLICT DO NOTHING"
)


def insert_events(
    session: Session, account_id: uuid.UUID, events: Iterable[dict[str, Any]]
) -> None:
    """Events as the drain stores them (a resent one is stored once), with visitor ordinals."""
    rows = []
    for event in events:
        ordinal = int(event["visitor_ordinal"])
        rows.append(
            {
                "account_id": account_id,
                "event_id": event["event_id"],
                "occurred_at": event["occurred_at"],
                "type": event["type"],
                "source": "server"
                if event["type"] in ("purchase", "upsell_accepted", "upsell_declined")
                else "client",
                "funnel_id": event["funnel_id"],
                "step_id": event.get("step_id"),
                "visitor_id": f"v{ordinal}",
                "visitor_ordinal": ordinal,
                "session_id": event["session_id"],
                "amount_cents": event.get("amount_cents"),
                "currency": event.get("currency"),
                "properties": f'{{"bump_count": {int(event.get("bump_count", 0))}}}',
            }
        )
    if not rows:
        return
    session.execute(
        text(
            "INSERT INTO analytics_visitors (account_id, visitor_id, ordinal)"
            " SELECT :account_id, :visitor_id, :visitor_ordinal ON CONFLICT DO NOTHING"
        ),
        [
            {
                "account_id": account_id,
                "visitor_id": r["visitor_id"],
                "visitor_ordinal": r["visitor_ordinal"],
            }
            for r in rows
        ],
    )
    session.execute(_INSERT, rows)


# From SPEC's definitions, written without the code under test: counted events (a step
# stat type, a step, money with a currency), each event id once (its first stored copy),
# days in the zone, entries and exits by a window over each (funnel, session)'s views.
RECOMPUTE = text("""
WITH counted AS (
  SELECT e.* FROM analytics_events e
  WHERE e.account_id = :account
    AND e.type IN ('page_view', 'optin', 'checkout_started', 'purchase', 'upsell_accepted',
                   'upsell_declined', 'conversion')
    AND e.step_id IS NOT NULL
    AND (e.type NOT IN ('purchase', 'upsell_accepted') OR e.currency IS NOT NULL)
),
firsts AS (
  SELECT DISTINCT ON (event_id) c.*, (c.occurred_at AT TIME ZONE :zone)::date AS day
  FROM counted c ORDER BY event_id, seq
),
views AS (
  SELECT seq,
    row_number() OVER (PARTITION BY funnel_id, session_id ORDER BY occurred_at, event_id) AS up,
    row_number() OVER (PARTITION BY funnel_id, session_id
                       ORDER BY occurred_at DESC, event_id DESC) AS down
  FROM firsts WHERE type = 'page_view'
),
goals AS (
  SELECT id AS step_id, CASE step_type WHEN 'optin' THEN 'optin' WHEN 'order_form' THEN 'purchase'
    WHEN 'upsell' THEN 'upsell_accepted' WHEN 'downsell' THEN 'upsell_accepted' END AS goal
  FROM funnel_steps WHERE account_id = :account
)
SELECT f.funnel_id::text, f.step_id::text, f.day, '' AS currency,
  count(*) FILTER (WHERE f.type = 'page_view') AS views,
  coalesce(array_agg(DISTINCT f.visitor_ordinal ORDER BY f.visitor_ordinal)
           FILTER (WHERE f.type = 'page_view'), '{}') AS visitors,
  count(*) FILTER (WHERE v.up = 1) AS entries,
  count(*) FILTER (WHERE v.down = 1) AS exits,
  count(*) FILTER (WHERE f.type = 'optin') AS optins,
  count(*) FILTER (WHERE f.type = 'checkout_started') AS checkouts,
  count(*) FILTER (WHERE f.type = 'purchase') AS purchases,
  count(*) FILTER (WHERE f.type = 'conversion' OR f.type = g.goal) AS conversions,
  count(*) FILTER (WHERE f.type = 'upsell_accepted') AS upsells_accepted,
  count(*) FILTER (WHERE f.type = 'upsell_declined') AS upsells_declined,
  count(*) FILTER (WHERE f.type = 'purchase'
                   AND coalesce((f.properties ->> 'bump_count')::int, 0) > 0) AS bump_purchases,
  0::bigint AS revenue_cents
FROM firsts f LEFT JOIN views v ON v.seq = f.seq LEFT JOIN goals g ON g.step_id = f.step_id
GROUP BY 1, 2, 3
UNION ALL
SELECT funnel_id::text, step_id::text, day, currency, 0, '{}', 0, 0, 0, 0, 0, 0, 0, 0, 0,
  sum(coalesce(amount_cents, 0))::bigint
FROM firsts WHERE type IN ('purchase', 'upsell_accepted')
GROUP BY 1, 2, 3, 4
""")

STORED = text("""
SELECT funnel_id::text, step_id::text, day, currency, views, visitors, entries, exits, optins,
  checkouts, purchases, conversions, upsells_accepted, upsells_declined, bump_purchases,
  revenue_cents, unique_visitors, zone
FROM funnel_step_stats WHERE account_id = :account
""")

Key = tuple[str, str, dt.date, str]


def recomputed(session: Session, account_id: uuid.UUID, zone: str) -> dict[Key, tuple[Any, ...]]:
    """The stats of every retained event, from scratch in SQL, keyed by row."""
    rows = session.execute(RECOMPUTE, {"account": account_id, "zone": zone}).all()
    return {tuple(row[:4]): (*row[4:5], list(row[5]), *row[6:]) for row in rows}  # type: ignore[misc]


def stored(session: Session, account_id: uuid.UUID) -> tuple[dict[Key, tuple[Any, ...]], set[str]]:
    """The job's rows keyed the same way (bitmaps as sorted lists), and their zones."""
    from domain.analytics.rollup_rows import visitors_from_bytes

    out: dict[Key, tuple[Any, ...]] = {}
    zones = set()
    for row in session.execute(STORED, {"account": account_id}).all():
        visitors = sorted(visitors_from_bytes(row[5])) if row[5] is not None else []
        assert row[-2] == len(visitors)
        out[tuple(row[:4])] = (row[4], visitors, *row[6:16])  # type: ignore[index]
        zones.add(row[-1])
    return out, zones
