"""Every query of outgoing webhooks."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from domain.shared.schemas import PageParams

# How far past the due rows a claim looks for endpoints that are not saturated.
CLAIM_SCAN = 2000


def get_webhook(
    session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, *, lock: bool = False
) -> Webhook | None:
    """One of the account's endpoints (locked for update if asked)."""
    stmt = select(Webhook).where(Webhook.id == webhook_id, Webhook.account_id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def list_webhooks(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[list[Webhook], int]:
    """A page of the account's endpoints, newest first, and their count."""
    where = Webhook.account_id == account_id
    total = session.scalar(select(func.count()).select_from(Webhook).where(where)) or 0
    rows = session.scalars(
        select(Webhook)
        .where(where)
        .order_by(Webhook.created_at.desc(), Webhook.id)
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return list(rows), total


def enabled_webhooks(session: Session, account_ids: Collection[uuid.UUID]) -> list[Webhook]:
    """The enabled endpoints of these accounts."""
    if not account_ids:
        return []
    return list(
        session.scalars(
            select(Webhook).where(Webhook.account_id.in_(account_ids), Webhook.enabled)
        ).all()
    )


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Add deliveries, skipping any (endpoint, event) already there; how many were new."""
    if not rows:
        return 0
    result = session.execute(
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    return len(result.all())


@dataclass(frozen=True)
class Health:
    """Delivery figures of one endpoint."""

    attempts_24h: int
    successes_24h: int
    pending: int
    oldest_pending_at: datetime | None


def health(
    session: Session, webhook_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, Health]:
    """Attempts since `since` and pending deliveries, per endpoint."""
    attempts = dict.fromkeys(webhook_ids, (0, 0))
    pending: dict[uuid.UUID, tuple[int, datetime | None]] = dict.fromkeys(webhook_ids, (0, None))
    if webhook_ids:
        for webhook_id, total, ok in session.execute(
            select(
                WebhookAttempt.webhook_id,
                func.count(),
                func.count().filter(WebhookAttempt.succeeded),
            )
            .where(WebhookAttempt.webhook_id.in_(webhook_ids), WebhookAttempt.attempted_at >= since)
            .group_by(WebhookAttempt.webhook_id)
        ):
            attempts[webhook_id] = (total, ok)
        for webhook_id, count, oldest in session.execute(
            select(WebhookDelivery.webhook_id, func.count(), func.min(WebhookDelivery.created_at))
            .where(WebhookDelivery.webhook_id.in_(webhook_ids), WebhookDelivery.status == "pending")
            .group_by(WebhookDelivery.webhook_id)
        ):
            pending[webhook_id] = (count, oldest)
    return {
        w: Health(attempts[w][0], attempts[w][1], pending[w][0], pending[w][1]) for w in webhook_ids
    }


def oldest_undelivered(session: Session) -> datetime | None:
    """Creation time of the oldest pending delivery to an enabled endpoint, all accounts."""
    return session.scalar(
        select(func.min(WebhookDelivery.created_at))
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == "pending", Webhook.enabled)
    )


def get_delivery(
    session: Session, account_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    """One delivery of the account's endpoint, locked for update."""
    return session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.account_id == account_id,
        )
        .with_for_update()
    ).one_or_none()


def list_deliveries(
    session: Session, webhook_id: uuid.UUID, page: PageParams, status: str | None
) -> tuple[list[WebhookDelivery], int]:
    """A page of an endpoint's deliveries, newest first, and their count."""
    where = [WebhookDelivery.webhook_id == webhook_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0
    rows = session.scalars(
        select(WebhookDelivery)
        .where(*where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return list(rows), total


def attempts_of(
    session: Session, delivery_ids: Sequence[uuid.UUID], per_delivery: int
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    """The last `per_delivery` attempts of each delivery, oldest first."""
    found: dict[uuid.UUID, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    ranked = (
        select(
            WebhookAttempt.id,
            func.row_number()
            .over(
                partition_by=WebhookAttempt.delivery_id,
                order_by=WebhookAttempt.attempted_at.desc(),
            )
            .label("rn"),
        )
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .subquery()
    )
    rows = session.scalars(
        select(WebhookAttempt)
        .join(ranked, ranked.c.id == WebhookAttempt.id)
        .where(ranked.c.rn <= per_delivery)
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
    ).all()
    for attempt in rows:
        found[attempt.delivery_id].append(attempt)
    return found


def fail_pending(session: Session, webhook_id: uuid.UUID, reason: str, now: datetime) -> int:
    """Mark every pending delivery of an endpoint failed (it was disabled); how many."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
        .values(status="failed", next_attempt_at=None, last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def requeue_failed(
    session: Session,
    webhook_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
    limit: int,
    now: datetime,
) -> int:
    """Put up to `limit` failed deliveries created in [since, until) back in the queue."""
    chosen = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.status == "failed",
            WebhookDelivery.created_at >= since,
            WebhookDelivery.created_at < until,
        )
        .order_by(WebhookDelivery.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(chosen))
        .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one dispatcher until its lease ends, with what sending needs."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    body: str
    url: str
    secret: str
    previous_secret: str | None
    secret_rotated_at: datetime | None


def due_candidates(
    session: Session,
    *,
    now: datetime,
    per_endpoint: int,
    skip: Collection[uuid.UUID],
    account_ids: Collection[uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(delivery, endpoint) pairs due now, oldest first, at most per_endpoint per endpoint.

    Endpoints in `skip` (saturated in this dispatcher) are left out, so one endpoint's
    backlog never fills the claim. account_ids narrows the claim (simulated-time tests).
    """
    conditions = [
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
    ]
    if skip:
        conditions.append(WebhookDelivery.webhook_id.not_in(list(skip)))
    if account_ids is not None:
        conditions.append(WebhookDelivery.account_id.in_(list(account_ids)))
    due = (
        select(WebhookDelivery.id, WebhookDelivery.webhook_id, WebhookDelivery.next_attempt_at)
        .join(Webhook, and_(Webhook.id == WebhookDelivery.webhook_id, Webhook.enabled))
        .where(*conditions)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(CLAIM_SCAN)
        .subquery()
    )
    rank = func.row_number().over(partition_by=due.c.webhook_id, order_by=due.c.next_attempt_at)
    ranked = select(due.c.id, due.c.webhook_id, due.c.next_attempt_at, rank.label("rn")).subquery()
    rows = session.execute(
        select(ranked.c.id, ranked.c.webhook_id)
        .where(ranked.c.rn <= per_endpoint)
        .order_by(ranked.c.next_attempt_at)
    ).all()
    return [(row[0], row[1]) for row in rows]


def claim(
    session: Session, ids: Sequence[uuid.UUID], *, now: datetime, lease_until: datetime
) -> list[Claimed]:
    """Take these deliveries if still due and not held by another dispatcher.

    The lease is the due time moved forward: a dispatcher that dies mid-attempt leaves
    the delivery due again when the lease ends.
    """
    if not ids:
        return []
    free = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.id.in_(ids),
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(free), Webhook.id == WebhookDelivery.webhook_id)
        .values(next_attempt_at=lease_until)
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            WebhookDelivery.body,
            Webhook.url,
            Webhook.secret,
            Webhook.previous_secret,
            Webhook.secret_rotated_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return [Claimed(*row) for row in rows]


@dataclass(frozen=True)
class DeliveryState:
    """What recording an attempt needs to know of its delivery."""

    id: uuid.UUID
    account_id: uuid.UUID
    webhook_id: uuid.UUID
    status: str
    attempts: int


def lock_states(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DeliveryState]:
    """These deliveries' states, locked for update in id order (two writers never deadlock)."""
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.account_id,
            WebhookDelivery.webhook_id,
            WebhookDelivery.status,
            WebhookDelivery.attempts,
        )
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
        .with_for_update()
    ).all()
    return {row[0]: DeliveryState(*row) for row in rows}


def insert_attempts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add attempt rows (one statement)."""
    if rows:
        session.execute(insert(_ATTEMPTS), rows)


# The Core tables: these statements run once per batch of attempts and skip the ORM.
_ATTEMPTS: Table = WebhookAttempt.__table__  # type: ignore[assignment]
_DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_DELIVERY_COLUMNS = (
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
    "updated_at",
)


def update_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set each delivery's new state (rows keyed `b_id`; one statement, many parameter sets)."""
    if rows:
        table = _DELIVERIES
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in _DELIVERY_COLUMNS})
        )
        session.execute(stmt, rows)


def mark_failing(
    session: Session, webhook_ids: Collection[uuid.UUID], since: datetime
) -> dict[uuid.UUID, tuple[datetime, bool]]:
    """Start the failure clock of these endpoints where not running; their clock and enabled."""
    if not webhook_ids:
        return {}
    rows = session.execute(
        update(Webhook)
        .where(Webhook.id.in_(sorted(webhook_ids)))
        .values(failing_since=func.coalesce(Webhook.failing_since, since))
        .returning(Webhook.id, Webhook.failing_since, Webhook.enabled)
        .execution_options(synchronize_session=False)
    ).all()
    return {row[0]: (row[1] or since, row[2]) for row in rows}


def mark_healthy(session: Session, webhook_ids: Collection[uuid.UUID]) -> None:
    """Stop the failure clock of these endpoints (a delivery succeeded)."""
    if webhook_ids:
        session.execute(
            update(Webhook)
            .where(Webhook.id.in_(sorted(webhook_ids)), Webhook.failing_since.is_not(None))
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )


def lock_webhook(session: Session, webhook_id: uuid.UUID) -> Webhook | None:
    """An endpoint locked for update, whatever its account (for the dispatcher)."""
    return session.get(Webhook, webhook_id, with_for_update=True)


def next_due(session: Session, account_ids: Collection[uuid.UUID] | None = None) -> datetime | None:
    """The earliest due time of a pending delivery to an enabled endpoint (tests, metrics)."""
    stmt = (
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == "pending", Webhook.enabled)
    )
    if account_ids is not None:
        stmt = stmt.where(WebhookDelivery.account_id.in_(account_ids))
    return session.scalar(stmt)


def all_for_update(session: Session) -> list[Webhook]:
    """Every endpoint of every account, locked (re-encrypting the secrets under a new key)."""
    return list(session.scalars(select(Webhook).order_by(Webhook.id).with_for_update()))
