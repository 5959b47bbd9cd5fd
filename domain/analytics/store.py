"""The one insert path of analytics_events: the drain's batches and the server facts alike.

A batch is copied into a temporary table (COPY), visitors new to their account get the next
ordinals, and the events are inserted with `ON CONFLICT DO NOTHING` on the unique key
(account_id, event_id, occurred_at): an event drained twice, resent or recorded again is
stored once. An event whose funnel is not its account's is dropped before the copy, never
stored (the API checks it too; a funnel may change hands or vanish in between).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.funnels import service as funnels

# The temporary table's columns, in COPY order (the event's fields after the entry's two).
EVENT_COLUMNS = (
    "event_id",
    "type",
    "source",
    "funnel_id",
    "step_id",
    "page_id",
    "visitor_id",
    "session_id",
    "occurred_at",
    "amount_cents",
    "currency",
    "order_id",
    "ab_test_id",
    "variant_id",
)
COPY_COLUMNS = ("account_id", "received_at", *EVENT_COLUMNS, "properties")

# ON COMMIT DELETE ROWS: the table lives as long as the pooled connection, empty between
# transactions, so a batch costs no CREATE.
_TEMP_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS analytics_batch (
    account_id uuid NOT NULL, received_at timestamptz NOT NULL,
    event_id text, type text, source text, funnel_id uuid, step_id uuid, page_id uuid,
    visitor_id text, session_id text, occurred_at timestamptz, amount_cents bigint,
    currency text, order_id uuid, ab_test_id uuid, variant_id uuid, properties jsonb
) ON COMMIT DELETE ROWS
"""

# Accounts with visitors not numbered yet, locked in one order (no deadlock between two
# drains): ordinals are max + 1, 2, ... per account, so two drains must not both take them.
_LOCK_NEW_VISITOR_ACCOUNTS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended('analytics.visitors:' || b.account_id::text, 0) AS k
    FROM analytics_batch b
    WHERE NOT EXISTS (SELECT 1 FROM analytics_visitors v
                      WHERE v.account_id = b.account_id AND v.visitor_id = b.visitor_id)
    ORDER BY k
) keys
"""

# Under those locks, a statement (READ COMMITTED: a fresh snapshot) sees every ordinal
# committed by a drain that held the lock before.
_NUMBER_NEW_VISITORS = """
INSERT INTO analytics_visitors (account_id, visitor_id, ordinal)
SELECT n.account_id, n.visitor_id,
       coalesce(top.ordinal, -1) + row_number() OVER (PARTITION BY n.account_id
                                                     ORDER BY n.visitor_id)
FROM (SELECT DISTINCT b.account_id, b.visitor_id FROM analytics_batch b
      WHERE NOT EXISTS (SELECT 1 FROM analytics_visitors v
                        WHERE v.account_id = b.account_id AND v.visitor_id = b.visitor_id)
     ) n
LEFT JOIN LATERAL (SELECT max(v.ordinal) AS ordinal FROM analytics_visitors v
                   WHERE v.account_id = n.account_id) top ON true
"""

_INSERT_EVENTS = """
INSERT INTO analytics_events (
    account_id, received_at, event_id, type, source, funnel_id, step_id, page_id,
    visitor_id, session_id, occurred_at, amount_cents, currency, order_id, ab_test_id,
    variant_id, properties, visitor_ordinal)
SELECT b.account_id, b.received_at, b.event_id, b.type, b.source, b.funnel_id, b.step_id,
       b.page_id, b.visitor_id, b.session_id, b.occurred_at, b.amount_cents, b.currency,
       b.order_id, b.ab_test_id, b.variant_id, coalesce(b.properties, '{}'::jsonb), v.ordinal
FROM analytics_batch b
JOIN analytics_visitors v ON v.account_id = b.account_id AND v.visitor_id = b.visitor_id
ON CONFLICT (account_id, event_id, occurred_at) DO NOTHING
"""


@dataclass(frozen=True)
class EntryEvents:
    """The events of one accepted request (a stream entry, or one server fact)."""

    account_id: uuid.UUID
    received_at: datetime
    events: Sequence[dict[str, Any]]


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


def _funnel_owners(session: Session, entries: Iterable[EntryEvents]) -> dict[str, str]:
    """funnel id as sent -> its account id as text, for every funnel the batch names."""
    named: dict[str, uuid.UUID] = {}
    for entry in entries:
        for event in entry.events:
            raw = str(event.get("funnel_id"))
            if raw not in named:
                try:
                    named[raw] = uuid.UUID(raw)
                except ValueError:
                    continue  # not a funnel: the event is dropped
    owners = funnels.owners(session, set(named.values()))
    return {raw: str(owners[fid]) for raw, fid in named.items() if fid in owners}


def _rows(entries: Sequence[EntryEvents], owners: dict[str, str]) -> tuple[list[list[Any]], int]:
    """COPY rows of the events whose funnel is their entry's account's; and how many were not."""
    rows: list[list[Any]] = []
    dropped = 0
    for entry in entries:
        account = str(entry.account_id)
        received = entry.received_at.isoformat()
        for event in entry.events:
            if owners.get(str(event.get("funnel_id"))) != account:
                dropped += 1
                continue
            row = [account, received, *(event.get(column) for column in EVENT_COLUMNS)]
            row[4] = row[4] or "client"  # source
            row.append(json.dumps(event.get("properties") or {}, separators=(",", ":")))
            rows.append(row)
    return rows, dropped


def store(session: Session, entries: Sequence[EntryEvents]) -> Stored:
    """Insert the entries' events in the caller's transaction (the caller commits)."""
    rows, dropped = _rows(entries, _funnel_owners(session, entries))
    if not rows:
        return Stored(dropped=dropped)
    session.execute(text(_TEMP_TABLE))
    driver = session.connection().connection.driver_connection
    assert driver is not None
    copy_sql = f"COPY analytics_batch ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)
    session.execute(text(_LOCK_NEW_VISITOR_ACCOUNTS))
    session.execute(text(_NUMBER_NEW_VISITORS))
    inserted = session.execute(text(_INSERT_EVENTS)).rowcount  # type: ignore[attr-defined]
    # The rows go now, not at commit: a second batch in this transaction starts empty.
    session.execute(text("TRUNCATE analytics_batch"))
    return Stored(inserted, len(rows) - inserted, dropped)
