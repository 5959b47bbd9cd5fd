"""PostgreSQL advisory locks: keep periodic jobs and idempotent requests from overlapping."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for the lock named by parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_xact_lock(session: Session, *parts: str) -> bool:
    """Take the named lock until the transaction ends; False if someone else holds it."""
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(*parts)))))
