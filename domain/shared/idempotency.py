"""Idempotency-Key handling for endpoints that move money.

The same key with the same request replays the first answer; with another request it is
refused (422 idempotency_key_reused); while the first request still runs, 409
idempotency_key_in_progress. Keys are scoped to the account and the kind of caller (the
merchant's users and API keys share one key space, anonymous publishable-key callers have
another, so a visitor cannot squat a key the merchant will use) and kept for 24 hours.

"Still running" is a transaction-scoped advisory lock on (account, scope, key): the first request
holds it until its transaction commits or rolls back, so a crashed request never leaves a
key stuck. The stored answer is written in that same transaction, so either the work and
its answer are both committed or neither is. Only successful answers are stored: an error
changed nothing, so a retry with the same key simply runs again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Index, String, UniqueConstraint, delete, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin
from domain.shared.errors import Conflict, InvalidInput
from domain.shared.locks import try_xact_lock
from domain.shared.schemas import parse_json

KeyScope = Literal["merchant", "public"]
"""Whose key space: the merchant's users and API keys, or anonymous publishable-key callers."""


class IdempotencyRecord(IdMixin, TenantMixin, Base):
    """The first answer given to a request made with an Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    scope: Mapped[KeyScope] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int]
    response_body: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


@dataclass(frozen=True)
class StoredResponse:
    """An answer to replay."""

    status_code: int
    body: Any


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same': method, path and the JSON body (key order ignored)."""
    try:
        canonical = json.dumps(parse_json(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def begin(
    session: Session,
    *,
    account_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    now: datetime,
    scope: KeyScope = "merchant",
) -> StoredResponse | None:
    """Claim the key for this transaction; the stored answer to replay, or None to go ahead."""
    if not try_xact_lock(session, "idempotency", str(account_id), scope, key):
        raise Conflict(
            "A request with this Idempotency-Key is still in progress",
            code="idempotency_key_in_progress",
        )
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at > now,
        )
    )
    if record is None:
        return None
    if record.fingerprint != request_fingerprint:
        raise InvalidInput(
            "This Idempotency-Key was used with a different request",
            code="idempotency_key_reused",
        )
    return StoredResponse(status_code=record.response_status, body=record.response_body)


def store(
    session: Session,
    *,
    account_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    response: StoredResponse,
    now: datetime,
    ttl_hours: int,
    scope: KeyScope = "merchant",
) -> None:
    """Keep the answer for replays (replacing an expired record of the same key)."""
    values = {
        "fingerprint": request_fingerprint,
        "response_status": response.status_code,
        "response_body": response.body,
        "created_at": now,
        "expires_at": now + timedelta(hours=ttl_hours),
    }
    session.execute(
        insert(IdempotencyRecord)
        .values(id=uuid.uuid4(), account_id=account_id, scope=scope, key=key, **values)
        .on_conflict_do_update(index_elements=["account_id", "scope", "key"], set_=values)
    )


def purge_expired(session: Session, now: datetime) -> int:
    """Delete expired records; how many."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
