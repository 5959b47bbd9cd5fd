"""The suite's own event type and feed consumers, whose effect is a row per event handled.

The effect table lives in a schema of the suite's own (feed_test), so the migrations and
their drift check never see it. A consumer's effect rows and its cursor commit together:
counting rows per event shows how often an event took effect.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.events import catalogue
from domain.events import repository as feed_repo
from domain.events.feed import Handler
from domain.shared import events
from domain.shared.db import get_engine, unit_of_work, utcnow
from domain.shared.events import DomainEvent
from domain.shared.locks import lock_key

FED = "testing.fed"
# Registered by tests/support/feed_consumers.py, in the workers that include it.
WORKER_CONSUMERS = ("testing.feed_a", "testing.feed_b")


class Fed(events.EventPayload):
    """testing.fed"""

    seq: int
    # When set: the consumer named hold_consumer, reaching this event for the first time,
    # writes its pid to hold_file and sleeps, so a test can kill it mid-batch.
    hold_file: str | None = None
    hold_consumer: str | None = None


catalogue.register(
    events.EventType(FED, "The suite fed the feed an event.", Fed, context="testing")
)


def create_effects_table() -> None:
    """The effect table of the suite's consumers (once per database)."""
    with get_engine().begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("feed_test")})
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS feed_test"))
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS feed_test.effects ("
                " consumer text NOT NULL, event_id bigint NOT NULL, pid int NOT NULL)"
            )
        )


def record_fed(session: Session, account_id: uuid.UUID, seq: int, **hold: str) -> DomainEvent:
    """Record one testing.fed event in session (flushed, so its id is known)."""
    event = events.record(
        session,
        account_id=account_id,
        type=FED,
        subject_id=account_id,
        payload={"seq": seq, **hold},
    )
    session.flush()
    return event


def effect_writer(name: str) -> Handler:
    """A handler writing one effect row per event, in the batch's transaction."""

    def handle(session: Session, batch: list[DomainEvent]) -> None:
        for event in batch:
            _maybe_hold(name, event)
            session.execute(
                text("INSERT INTO feed_test.effects (consumer, event_id, pid) VALUES (:c, :e, :p)"),
                {"c": name, "e": event.id, "p": os.getpid()},
            )

    return handle


def _maybe_hold(name: str, event: DomainEvent) -> None:
    """Stop here (pid written, asleep) the first time this consumer reaches a held event."""
    hold_file = event.payload.get("hold_file")
    if hold_file and event.payload.get("hold_consumer") == name and not Path(hold_file).exists():
        Path(hold_file).write_text(str(os.getpid()))
        time.sleep(60)  # the test kills this process meanwhile


def effects(consumer: str, event_ids: Iterable[int]) -> dict[int, int]:
    """How many effect rows each event has for consumer (0 when none)."""
    ids = list(event_ids)
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, count(*) FROM feed_test.effects"
                " WHERE consumer = :c AND event_id = ANY(:ids) GROUP BY event_id"
            ),
            {"c": consumer, "ids": ids},
        ).all()
    counted = {row[0]: row[1] for row in rows}
    return {event_id: counted.get(event_id, 0) for event_id in ids}


def start_cursors(names: Iterable[str]) -> None:
    """Cursors for consumers at the feed's settled tail: they see only what follows."""
    with unit_of_work() as session:
        for name in names:
            feed_repo.ensure_cursor(session, name, start="latest", now=utcnow())


def forget_cursors(names: Iterable[str]) -> None:
    """Drop the cursors, so they hold nothing back from retention in later tests."""
    with unit_of_work() as session:
        for name in names:
            feed_repo.forget(session, name)
