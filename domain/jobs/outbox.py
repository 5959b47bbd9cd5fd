"""The transactional outbox: messages become broker messages only after their commit.

A service adds an OutboxMessage in its own transaction. Right after that transaction
commits, the relay hands the message to the publisher (Celery, installed by the process
at start-up) and marks it published. If the broker is down, the row simply stays
unpublished and the beat sweep (relay_due) publishes it later: nothing is lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from domain.jobs.models import Job, OutboxMessage
from domain.shared.db import after_close, get_engine, utcnow

log = logging.getLogger(__name__)

_PENDING = "outbox_pending"
_WAKES = "outbox_wakes"


@dataclass(frozen=True)
class OutgoingMessage:
    """What the publisher needs to send one task message."""

    id: uuid.UUID
    task: str
    queue: str
    kwargs: dict[str, Any]


Publisher = Callable[[OutgoingMessage], None]
_publisher: Publisher | None = None


def set_publisher(publisher: Publisher | None) -> None:
    """Install how messages reach the broker (the API and workers install Celery's)."""
    global _publisher
    _publisher = publisher


def add(session: Session, message: OutboxMessage) -> None:
    """Stage a message: relayed right after the commit unless it is due later (then swept)."""
    session.add(message)
    if message.available_at <= message.created_at:
        session.info.setdefault(_PENDING, []).append(_outgoing(message))


def wake_after_commit(session: Session, *, task: str, queue: str) -> None:
    """Send task (no arguments) once right after this transaction commits, with no outbox row.

    For nudges whose loss costs only latency because beat runs the task anyway (the events
    feed's consumers); several asks in one transaction send one message.
    """
    session.info.setdefault(_WAKES, {})[task] = queue


def _outgoing(message: OutboxMessage) -> OutgoingMessage:
    return OutgoingMessage(
        id=message.id, task=message.task, queue=message.queue, kwargs=message.kwargs
    )


def _publish(messages: list[OutgoingMessage]) -> list[uuid.UUID]:
    """Send what can be sent; the ids that reached the broker."""
    if _publisher is None:
        return []
    sent: list[uuid.UUID] = []
    for message in messages:
        try:
            _publisher(message)
        except Exception:  # broker down: the sweep will send it later
            log.warning(
                "outbox: could not publish %s (%s); left for the sweep",
                message.id,
                message.task,
                exc_info=True,
            )
            break
        sent.append(message.id)
    return sent


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    pending: list[OutgoingMessage] = session.info.pop(_PENDING, [])
    wakes: dict[str, str] = session.info.pop(_WAKES, {})
    if not pending and not wakes:
        return
    # Rows first; one list, so a dead broker costs one failed attempt, not one per kind.
    nudges = [OutgoingMessage(uuid.uuid4(), task, queue, {}) for task, queue in wakes.items()]
    rows = {message.id for message in pending}
    sent = [id_ for id_ in _publish([*pending, *nudges]) if id_ in rows]
    if sent:
        # Marked once the session has given its connection back (see after_close); if that
        # never happens, the sweep sends the message again, which tasks shrug off.
        after_close(session, lambda: _mark_published(sent))


def _mark_published(ids: list[uuid.UUID]) -> None:
    with get_engine().begin() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.published_at.is_(None))
            .values(published_at=utcnow())
        )


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WAKES, None)


def relay_due(
    session: Session,
    *,
    now: datetime,
    grace_seconds: float,
    limit: int = 500,
    account_ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Publish unpublished messages that are due (the beat sweep); how many were sent.

    grace_seconds leaves fresh messages to the after-commit relay, so both rarely send one.
    A message sent twice is harmless: tasks are idempotent. account_ids narrows the sweep
    to those accounts' jobs (the simulated-time tests).
    """
    stmt = select(OutboxMessage).where(
        OutboxMessage.published_at.is_(None),
        OutboxMessage.available_at <= now - timedelta(seconds=grace_seconds),
    )
    if account_ids is not None:
        stmt = stmt.join(Job, Job.id == OutboxMessage.job_id).where(Job.account_id.in_(account_ids))
    rows = session.scalars(
        stmt.order_by(OutboxMessage.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    ).all()
    sent = set(_publish([_outgoing(row) for row in rows]))
    for row in rows:
        if row.id in sent:
            row.published_at = now
    return len(sent)
