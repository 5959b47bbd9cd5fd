"""The feed: named consumers read every event once in effect, in commit-safe order.

A consumer is a handler `(session, events) -> None` registered under a name. One batch is
one transaction: take the consumer's lock, read the events after its cursor, hand them to
the handler, move the cursor; the handler's writes and the cursor commit together, so a
crash anywhere means the batch is read again (at least once, exactly once in effect for a
handler whose only effect is in the database).

Reads stop below the oldest transaction still running (pg_snapshot_xmin): a transaction
that got its id earlier but commits later can never land behind a cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from domain.events import catalogue
from domain.events import repository as repo
from domain.jobs import outbox
from domain.jobs.queues import queue_for
from domain.shared.db import utcnow
from domain.shared.events import DomainEvent
from domain.shared.locks import try_xact_lock

DRAIN_TASK = "events.drain"
"""Runs every registered consumer until caught up (woken after commits, and by beat)."""
PURGE_TASK = "events.purge"
"""Deletes events past retention that every consumer has read (beat)."""

Handler = Callable[[Session, list[DomainEvent]], None]
Start = Literal["earliest", "latest"]
BatchStatus = Literal["busy", "caught_up", "more"]


@dataclass(frozen=True)
class Consumer:
    """A named reader of the feed with its own cursor.

    types limits what the handler is given (None: every type); the cursor still moves past
    the rest. start says where a new cursor begins: the oldest retained event, or the
    events committed from now on.
    """

    name: str
    handler: Handler
    types: frozenset[str] | None = None
    batch_size: int | None = None
    start: Start = "earliest"

    def wants(self, event_type: str) -> bool:
        """Whether the handler is given events of this type."""
        return self.types is None or event_type in self.types


_CONSUMERS: dict[str, Consumer] = {}


def register(
    name: str,
    handler: Handler,
    *,
    types: Iterable[str] | None = None,
    batch_size: int | None = None,
    start: Start = "earliest",
) -> Consumer:
    """Register a consumer (at import time of its module); unknown types are refused."""
    wanted = frozenset(types) if types is not None else None
    unknown = sorted(t for t in wanted or () if not catalogue.is_known(t))
    if unknown:
        raise ValueError(f"consumer {name}: unknown event types {unknown}")
    if name in _CONSUMERS and _CONSUMERS[name].handler is not handler:
        raise ValueError(f"consumer {name} is registered twice")
    consumer = Consumer(name, handler, wanted, batch_size, start)
    _CONSUMERS[name] = consumer
    return consumer


def consumer(
    name: str,
    *,
    types: Iterable[str] | None = None,
    batch_size: int | None = None,
    start: Start = "earliest",
) -> Callable[[Handler], Handler]:
    """Decorator form of register."""

    def decorate(handler: Handler) -> Handler:
        register(name, handler, types=types, batch_size=batch_size, start=start)
        return handler

    return decorate


def unregister(name: str) -> None:
    """Stop running a consumer in this process (its cursor stays: see forget)."""
    _CONSUMERS.pop(name, None)


def registered() -> list[Consumer]:
    """The consumers of this process, by name."""
    return [_CONSUMERS[name] for name in sorted(_CONSUMERS)]


@dataclass(frozen=True)
class Batch:
    """What one batch did: read events, of which handed ones went to the handler."""

    status: BatchStatus
    read: int = 0
    handed: int = 0


def run_batch(session: Session, consumer: Consumer, *, batch_size: int) -> Batch:
    """One batch of consumer in the caller's transaction; the caller commits.

    'busy' when another runner holds the consumer; 'more' when a full batch was read.
    """
    if not try_xact_lock(session, "events.consumer", consumer.name):
        return Batch("busy")
    now = utcnow()
    cursor = repo.ensure_cursor(session, consumer.name, start=consumer.start, now=now)
    size = consumer.batch_size or batch_size
    events = repo.read_after(session, (cursor.last_tx_id, cursor.last_event_id), size)
    if not events:
        return Batch("caught_up")
    wanted = [event for event in events if consumer.wants(event.type)]
    if wanted:
        consumer.handler(session, wanted)
    repo.advance(session, cursor, (events[-1].tx_id, events[-1].id), now)
    return Batch("more" if len(events) == size else "caught_up", len(events), len(wanted))


def note_failure(session: Session, name: str, error: str) -> None:
    """Record why a consumer's batch failed (it is read again on the next run)."""
    repo.note_error(session, name, error, utcnow())


def forget(session: Session, name: str) -> bool:
    """Delete a retired consumer's cursor: otherwise it holds every later event from
    retention for ever."""
    return repo.forget(session, name)


def wake_after_commit(session: Session) -> None:
    """Have the consumers run right after this transaction commits.

    A plain broker message, no outbox row: losing it costs only latency, since beat runs
    the consumers every few seconds anyway.
    """
    outbox.wake_after_commit(session, task=DRAIN_TASK, queue=queue_for(DRAIN_TASK))
