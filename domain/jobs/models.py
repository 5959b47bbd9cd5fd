"""Jobs (our record of a piece of async work) and the outbox that hands them to the broker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin

JobStatus = Literal["queued", "running", "succeeded", "failed"]
JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class Job(IdMixin, TenantMixin, TimestampMixin, Base):
    """One piece of async work an account asked for, pollable at /api/v1/jobs/{id}."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_valid"
        ),
        Index("ix_jobs_status_updated_at", "status", "updated_at"),
        # GET /api/v1/jobs: an account's jobs, newest first.
        Index("ix_jobs_account_id_created_at", "account_id", "created_at"),
    )

    task: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    # Looks at something expected that had not happened yet; these spend no attempt.
    waits: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class OutboxMessage(IdMixin, Base):
    """A message to publish to the broker once its transaction has committed and it is due."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index(
            "ix_outbox_messages_unpublished",
            "available_at",
            postgresql_where=text("published_at IS NULL"),
        ),
        # Retention deletes published messages by age (domain/shared/retention.py).
        Index(
            "ix_outbox_messages_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(40))
    kwargs: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
