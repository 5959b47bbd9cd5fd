"""The one insert path of analytics_events: the drain's batches and the server facts alike.

A batch is a list of entries as the stream holds them (account, receive time, the events
as JSON text). The entries are copied (COPY) into a temporary table and PostgreSQL expands
their events (`jsonb_to_recordset`): Python never parses or re-encodes an event. Events
whose funnel is not their entry's account's are deleted from the batch (the funnels are
looked up through the funnels service, one query per batch): the API checks it too, but a
funnel may change hands or vanish in between, and such an event is never stored. Visitors
new to their account get the next ordinals, and the events are inserted with
`ON CONFLICT DO NOTHING` on the unique key (account_id, event_id, occurred_at): an event
drained twice, resent or recorded again is stored once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.funnels import service as funnels

# ON COMMIT DELETE ROWS: the tables live as long as the pooled connection, empty between
# transactions, so a batch costs no CREATE.
_TEMP_TABLES = (
    """
CREATE TEMP TABLE IF NOT EXISTS analytics_entries (
    account_id uuid NOT NULL, received_at timestamptz NOT NULL,
    events jsonb STORAGE EXTERNAL NOT NULL
) ON COMMIT DELETE ROWS""",
    """
CREATE TEMP TABLE IF NOT EXISTS analytics_funnels_ok (account_id uuid, funnel_id text)
    ON COMMIT DELETE ROWS""",
    """
CREATE TEMP TABLE IF NOT EXISTS analytics_new_visitors (account_id uuid, visitor_id text)
    ON COMMIT DELETE ROWS""",
)

# Visitors are looked up by primary key per event (LIMIT 1 keeps each lookup a parameterized
# index scan): a hash join would read every visitor of a large account for each batch.

# Events per (account, funnel as sent): what the funnel check needs.
_FUNNELS_NAMED = """
SELECT e.account_id, r.funnel_id, count(*)
FROM analytics_entries e CROSS JOIN LATERAL jsonb_to_recordset(e.events) AS r(funnel_id text)
GROUP BY e.account_id, r.funnel_id
"""
_FUNNELS_OK = """
INSERT INTO analytics_funnels_ok
SELECT * FROM unnest(CAST(:accounts AS uuid[]), CAST(:funnels AS text[]))
"""
# Accounts with visitors not numbered yet, locked in one order (no deadlock between two
# drains): ordinals are max + 1, 2, ... per account, so two drains must not both take them.
_NEW_VISITORS = """
INSERT INTO analytics_new_visitors
SELECT b.account_id, b.visitor_id
FROM (SELECT DISTINCT e.account_id, r.visitor_id
      FROM analytics_entries e
      CROSS JOIN LATERAL jsonb_to_recordset(e.events) AS r(funnel_id text, visitor_id text)
      JOIN analytics_funnels_ok ok
        ON ok.account_id = e.account_id AND ok.funnel_id = r.funnel_id) b
LEFT JOIN LATERAL (SELECT v.ordinal FROM analytics_visitors v
                   WHERE v.account_id = b.account_id AND v.visitor_id = b.visitor_id
                   LIMIT 1) v ON true
WHERE v.ordinal IS NULL
"""
_LOCK_NEW_VISITOR_ACCOUNTS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended('analytics.visitors:' || account_id::text, 0) AS k
    FROM analytics_new_visitors ORDER BY k
) keys
"""

# Under those locks, a statement (READ COMMITTED: a fresh snapshot) sees every ordinal
# committed by a drain that held the lock before; visitors it numbered meanwhile are
# skipped.
_NUMBER_NEW_VISITORS = """
WITH still_new AS MATERIALIZED (
    SELECT n.account_id, n.visitor_id FROM analytics_new_visitors n
    LEFT JOIN LATERAL (SELECT v.ordinal FROM analytics_visitors v
                       WHERE v.account_id = n.account_id AND v.visitor_id = n.visitor_id LIMIT 1) v
        ON true
    WHERE v.ordinal IS NULL
), top AS MATERIALIZED (
    SELECT a.account_id, (SELECT max(v.ordinal) FROM analytics_visitors v
                          WHERE v.account_id = a.account_id) AS ordinal
    FROM (SELECT DISTINCT account_id FROM still_new) a
)
INSERT INTO analytics_visitors (account_id, visitor_id, ordinal)
SELECT n.account_id, n.visitor_id,
       coalesce(top.ordinal, -1) + row_number() OVER (PARTITION BY n.account_id
                                                     ORDER BY n.visitor_id)
FROM still_new n JOIN top ON top.account_id = n.account_id
"""

# Only the events whose funnel is their account's (analytics_funnels_ok) are read.
_INSERT_EVENTS = """
INSERT INTO analytics_events (
    account_id, received_at, event_id, type, source, funnel_id, step_id, page_id,
    visitor_id, session_id, occurred_at, amount_cents, currency, order_id, ab_test_id,
    variant_id, properties, visitor_ordinal)
SELECT e.account_id, e.received_at, r.event_id, r.type, coalesce(r.source, 'client'),
       CAST(r.funnel_id AS uuid), r.step_id, r.page_id, r.visitor_id, r.session_id,
       r.occurred_at, r.amount_cents, r.currency, r.order_id, r.ab_test_id, r.variant_id,
       coalesce(r.properties, '{}'::jsonb), v.ordinal
FROM analytics_entries e
CROSS JOIN LATERAL jsonb_to_recordset(e.events) AS r(
    event_id text, type text, source text, funnel_id text, step_id uuid, page_id uuid,
    visitor_id text, session_id text, occurred_at timestamptz, amount_cents bigint,
    currency text, order_id uuid, ab_test_id uuid, variant_id uuid, properties jsonb)
JOIN analytics_funnels_ok ok ON ok.account_id = e.account_id AND ok.funnel_id = r.funnel_id
CROSS JOIN LATERAL (SELECT v.ordinal FROM analytics_visitors v
                    WHERE v.account_id = e.account_id AND v.visitor_id = r.visitor_id LIMIT 1) v
ON CONFLICT (account_id, event_id, occurred_at) DO NOTHING
"""


@dataclass(frozen=True)
class Entry:
    """One accepted request's events as the stream entry holds them (text, unparsed)."""

    account_id: str
    received_at: str
    events_json: str

    @classmethod
    def of(
        cls, account_id: uuid.UUID, received_at: datetime, events: list[dict[str, Any]]
    ) -> Entry:
        """An entry made here (a server fact), in the stream's format."""
        return cls(str(account_id), received_at.isoformat(), json.dumps(events, default=str))


@dataclass(frozen=True)
class Stored:
    """What a batch did: events inserted, already stored (duplicates), dropped (foreign funnel)."""

    inserted: int = 0
    duplicates: int = 0
    dropped: int = 0

    def __add__(self, other: Stored) -> Stored:
        return Stored(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.dropped + other.dropped,
        )


# Set on a session once it stored a batch (its temporary tables are emptied at commit).
_USED = "analytics.store.used"


def _copy_entries(session: Session, entries: Sequence[Entry]) -> None:
    """COPY the entries into analytics_entries."""
    for create in _TEMP_TABLES:
        session.execute(text(create))
    driver = session.connection().connection.driver_connection
    assert driver is not None
    copy_sql = "COPY analytics_entries (account_id, received_at, events) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for entry in entries:
            copy.write_row((entry.account_id, entry.received_at, entry.events_json))


def _check_funnels(session: Session) -> tuple[int, int]:
    """Keep the (account, funnel) pairs whose funnel is the account's: (events, dropped)."""
    counts = session.execute(text(_FUNNELS_NAMED)).all()
    named: dict[str, uuid.UUID] = {}
    for _, raw, _ in counts:
        try:
            named[raw] = uuid.UUID(raw)
        except (TypeError, ValueError):
            continue  # not a funnel id: its events go
    owners = funnels.owners(session, set(named.values()))
    ok = [(a, f) for a, f, _ in counts if f in named and owners.get(named[f]) == a]
    session.execute(
        text(_FUNNELS_OK), {"accounts": [str(a) for a, _ in ok], "funnels": [f for _, f in ok]}
    )
    kept = set(ok)
    events = sum(n for _, _, n in counts)
    return events, sum(n for a, f, n in counts if (a, f) not in kept)


def store(session: Session, entries: Sequence[Entry]) -> Stored:
    """Insert the entries' events in the caller's transaction (the caller commits)."""
    if not entries:
        return Stored()
    if session.info.get(_USED):  # a second batch in one transaction starts clean
        session.execute(
            text("TRUNCATE analytics_entries, analytics_funnels_ok, analytics_new_visitors")
        )
    session.info[_USED] = True
    _copy_entries(session, entries)
    events, dropped = _check_funnels(session)
    if session.execute(text(_NEW_VISITORS)).rowcount:  # type: ignore[attr-defined]
        session.execute(text(_LOCK_NEW_VISITOR_ACCOUNTS))
        session.execute(text(_NUMBER_NEW_VISITORS))
    inserted = int(session.execute(text(_INSERT_EVENTS)).rowcount)  # type: ignore[attr-defined]
    return Stored(inserted, events - dropped - inserted, dropped)
