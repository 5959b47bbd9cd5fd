"""Every query of the accounts context."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from domain.accounts.models import Account, ApiKey, AuthSession, RefreshToken, User
from domain.shared.db import get_engine, paginate
from domain.shared.schemas import PageParams

# How precisely an API key's last use is recorded: at most one write per key this often.
API_KEY_USE_RESOLUTION = timedelta(minutes=1)


def slug_taken(session: Session, slug: str) -> bool:
    """True when an account already uses this slug."""
    return session.scalar(select(func.count()).where(Account.slug == slug)) != 0


def email_taken(session: Session, email: str) -> bool:
    """True when a user already has this email."""
    return session.scalar(select(func.count()).where(User.email == email)) != 0


def get_account(session: Session, account_id: uuid.UUID) -> Account | None:
    """The account with this id."""
    return session.get(Account, account_id)


def get_account_for_update(session: Session, account_id: uuid.UUID) -> Account | None:
    """The account row, locked until the transaction ends (settings writes)."""
    return session.get(Account, account_id, with_for_update=True, populate_existing=True)


def get_account_by_publishable_key(session: Session, key: str) -> Account | None:
    """The account whose current publishable key this is."""
    return session.scalar(select(Account).where(Account.publishable_key == key))


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with this email."""
    return session.scalar(select(User).where(User.email == email))


def get_active_user_in_session(
    session: Session, *, user_id: uuid.UUID, account_id: uuid.UUID, session_id: uuid.UUID
) -> User | None:
    """The user of an access token, if the user is active and the login not revoked."""
    return session.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.account_id == account_id,
            User.is_active.is_(True),
            AuthSession.id == session_id,
            AuthSession.revoked_at.is_(None),
        )
    )


def get_refresh_token_for_update(session: Session, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, locked so two refreshes cannot both use it."""
    return session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    )


def get_auth_session(session: Session, session_id: uuid.UUID) -> AuthSession | None:
    """A login session."""
    return session.get(AuthSession, session_id)


def revoke_auth_session(
    session: Session, session_id: uuid.UUID, *, now: datetime, reason: str
) -> None:
    """End a login: its access and refresh tokens stop working."""
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def get_api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """An unrevoked API key with this hash."""
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )


def record_api_key_use(api_key_id: uuid.UUID, now: datetime) -> None:
    """Record use of a key in a short transaction of its own, at most once a minute.

    Never in the request's transaction: the row lock would last until the request ends
    (Stripe calls included) and every other request with the key would queue behind it.
    """
    with get_engine().begin() as connection:
        connection.execute(
            update(ApiKey)
            .where(ApiKey.id == api_key_id, _unused_since(now - API_KEY_USE_RESOLUTION))
            .values(last_used_at=now)
        )


def _unused_since(cutoff: datetime) -> ColumnElement[bool]:
    """The key's last recorded use is older than cutoff (or there is none)."""
    return ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < cutoff)


def list_api_keys(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[list[ApiKey], int]:
    """The account's API keys, newest first."""
    stmt = (
        select(ApiKey)
        .where(ApiKey.account_id == account_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return paginate(session, stmt, page)


def get_api_key(session: Session, account_id: uuid.UUID, api_key_id: uuid.UUID) -> ApiKey | None:
    """One of the account's API keys."""
    return session.scalar(
        select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.account_id == account_id)
    )


def get_account_id_by_slug(session: Session, slug: str) -> uuid.UUID | None:
    """The id of the account with this public slug."""
    return session.scalar(select(Account.id).where(Account.slug == slug))


def timezones(session: Session, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The time zone of each of these accounts."""
    stmt = select(Account.id, Account.timezone).where(Account.id.in_(account_ids))
    return {account_id: zone for account_id, zone in session.execute(stmt)}
