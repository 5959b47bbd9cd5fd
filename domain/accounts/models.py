"""Accounts, their users, login sessions with rotating refresh tokens, and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin


class Account(IdMixin, TimestampMixin, Base):
    """A tenant: everything else belongs to exactly one account."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    publishable_key: Mapped[str] = mapped_column(String(80), unique=True)
    # Settings (GET/PATCH /api/v1/account); later modules add theirs here.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    require_tracking_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Edit counter of the settings: a PATCH naming a stale one is refused (409).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class User(IdMixin, TenantMixin, TimestampMixin, Base):
    """A person who logs in to manage an account."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="owner")
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]


class AuthSession(IdMixin, TenantMixin, Base):
    """One login: the family of its refresh tokens; revoking it ends every token of the login."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class RefreshToken(IdMixin, TenantMixin, Base):
    """One refresh token of a session, stored as a hash; usable once."""

    __tablename__ = "refresh_tokens"
    # Retention deletes long-expired tokens (domain/shared/retention.py).
    __table_args__ = (Index("ix_refresh_tokens_expires_at", "expires_at"),)

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(IdMixin, TenantMixin, Base):
    """A long-lived, named, revocable key for server-to-server clients, stored as a hash."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
