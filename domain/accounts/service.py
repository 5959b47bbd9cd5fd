"""Use cases of the accounts context: registration, login sessions, API and publishable keys."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.accounts import repository as repo
from domain.accounts.models import Account, ApiKey, AuthSession, RefreshToken, User
from domain.accounts.schemas import (
    AccountPatch,
    AccountSettings,
    LoginIn,
    MeOut,
    Principal,
    RegisterIn,
    RegisterOut,
    TokenPair,
)
from domain.accounts.security import (
    API_KEY_PREFIX,
    AccessClaims,
    create_access_token,
    decode_access_token,
    hash_password,
    hash_token,
    new_api_key,
    new_publishable_key,
    new_refresh_token,
    verify_password,
)
from domain.shared.db import after_close, utcnow
from domain.shared.errors import Conflict, NotFound, Unauthorized
from domain.shared.schemas import PageParams
from domain.shared.settings import Settings
from domain.shared.versions import check_version


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: the whole login is revoked, and that must stick."""

    code = "refresh_token_reused"
    message = "Refresh token already used; the session has been revoked"
    keeps_changes = True


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return slug or "account"


def _unique_slug(session: Session, name: str) -> str:
    base = _slugify(name)
    slug = base
    while repo.slug_taken(session, slug):
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def _issue_tokens(
    session: Session, settings: Settings, user: User, auth_session: AuthSession, now: datetime
) -> TokenPair:
    """A new access token and a new refresh token in the login's family."""
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            account_id=user.account_id,
            session_id=auth_session.id,
            token_hash=hash_token(refresh),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    claims = AccessClaims(user_id=user.id, account_id=user.account_id, session_id=auth_session.id)
    return TokenPair(
        access_token=create_access_token(settings, claims, now),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
    )


def _start_session(session: Session, settings: Settings, user: User, now: datetime) -> TokenPair:
    auth_session = AuthSession(
        id=uuid.uuid4(), account_id=user.account_id, user_id=user.id, created_at=now
    )
    session.add(auth_session)
    return _issue_tokens(session, settings, user, auth_session, now)


def register(session: Session, settings: Settings, data: RegisterIn, now: datetime) -> RegisterOut:
    """Create an account, its owner, and a first login."""
    email = data.email.lower()
    if repo.email_taken(session, email):
        raise Conflict("A user with this email already exists", code="email_taken")
    account = Account(
        id=uuid.uuid4(),
        name=data.account_name,
        slug=_unique_slug(session, data.account_name),
        publishable_key=new_publishable_key(),
    )
    user = User(
        id=uuid.uuid4(),
        account_id=account.id,
        email=email,
        password_hash=hash_password(data.password),
        full_name=data.full_name,
        role="owner",
        is_active=True,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
            session.add(user)
            session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("A user with this email already exists", code="email_taken") from exc
    tokens = _start_session(session, settings, user, now)
    return RegisterOut.model_validate({**tokens.model_dump(), "user": user, "account": account})


def login(session: Session, settings: Settings, data: LoginIn, now: datetime) -> TokenPair:
    """Check credentials and start a login session."""
    user = repo.get_user_by_email(session, data.email.lower())
    ok = verify_password(user.password_hash if user else None, data.password)
    if user is None or not ok or not user.is_active:
        raise Unauthorized("Invalid email or password", code="invalid_credentials")
    user.last_login_at = now
    return _start_session(session, settings, user, now)


def refresh(session: Session, settings: Settings, token: str, now: datetime) -> TokenPair:
    """Rotate a refresh token; a token used twice revokes its whole family."""
    row = repo.get_refresh_token_for_update(session, hash_token(token))
    if row is None:
        raise Unauthorized("Invalid refresh token", code="invalid_refresh_token")
    auth_session = repo.get_auth_session(session, row.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise Unauthorized("Session revoked", code="session_revoked")
    if row.used_at is not None:
        repo.revoke_auth_session(session, auth_session.id, now=now, reason="refresh_token_reuse")
        raise RefreshTokenReused()
    if row.expires_at <= now:
        raise Unauthorized("Refresh token expired", code="refresh_token_expired")
    user = repo.get_active_user_in_session(
        session, user_id=auth_session.user_id, account_id=row.account_id, session_id=auth_session.id
    )
    if user is None:
        raise Unauthorized("Session revoked", code="session_revoked")
    row.used_at = now
    return _issue_tokens(session, settings, user, auth_session, now)


def logout(session: Session, token: str, now: datetime) -> None:
    """Revoke the login the refresh token belongs to (every token of its family)."""
    row = repo.get_refresh_token_for_update(session, hash_token(token))
    if row is None:
        raise Unauthorized("Invalid refresh token", code="invalid_refresh_token")
    repo.revoke_auth_session(session, row.session_id, now=now, reason="logout")


def authenticate_bearer(
    session: Session, settings: Settings, token: str, now: datetime
) -> Principal:
    """The principal behind an Authorization: Bearer value (a JWT or an API key)."""
    if token.startswith(API_KEY_PREFIX):
        key = repo.get_api_key_by_hash(session, hash_token(token))
        if key is None:
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        stale = now - repo.API_KEY_USE_RESOLUTION
        if key.last_used_at is None or key.last_used_at < stale:
            # After the request's session has closed, in a transaction of its own: see
            # record_api_key_use (and after_close, for why not while the session holds one).
            after_close(session, partial(repo.record_api_key_use, key.id, now))
        return Principal(account_id=key.account_id, kind="api_key", api_key_id=key.id)
    claims = decode_access_token(settings, token)
    if claims is None:
        raise Unauthorized("Invalid or expired access token", code="invalid_token")
    user = repo.get_active_user_in_session(
        session,
        user_id=claims.user_id,
        account_id=claims.account_id,
        session_id=claims.session_id,
    )
    if user is None:
        raise Unauthorized("Session revoked", code="session_revoked")
    return Principal(account_id=user.account_id, kind="user", user_id=user.id)


def authenticate_publishable_key(session: Session, key: str) -> Principal:
    """The account whose current publishable key this is."""
    account = repo.get_account_by_publishable_key(session, key)
    if account is None:
        raise Unauthorized("Invalid publishable key", code="invalid_publishable_key")
    return Principal(account_id=account.id, kind="publishable_key")


def me(session: Session, principal: Principal) -> MeOut:
    """The calling user with their account."""
    assert principal.user_id is not None
    user = session.get(User, principal.user_id)
    account = repo.get_account(session, principal.account_id)
    if user is None or account is None:
        raise NotFound()
    return MeOut.model_validate(
        {"user": user, "account": account, "publishable_key": account.publishable_key}
    )


def rotate_publishable_key(session: Session, account_id: uuid.UUID) -> str:
    """Replace the account's publishable key; the old one stops working at once."""
    account = repo.get_account(session, account_id)
    if account is None:
        raise NotFound()
    account.publishable_key = new_publishable_key()
    return account.publishable_key


def create_api_key(
    session: Session, principal: Principal, name: str, now: datetime
) -> tuple[ApiKey, str]:
    """A new API key and its secret (shown to the caller once, stored hashed)."""
    secret = new_api_key()
    key = ApiKey(
        id=uuid.uuid4(),
        account_id=principal.account_id,
        name=name,
        prefix=secret[:10],
        key_hash=hash_token(secret),
        created_by_user_id=principal.user_id,
        created_at=now,
    )
    session.add(key)
    return key, secret


def list_api_keys(
    session: Session, account_id: uuid.UUID, page: PageParams
) -> tuple[list[ApiKey], int]:
    """The account's API keys (never their secrets)."""
    return repo.list_api_keys(session, account_id, page)


def revoke_api_key(
    session: Session, account_id: uuid.UUID, api_key_id: uuid.UUID, now: datetime
) -> None:
    """Revoke a key: it stops authenticating at once."""
    key = repo.get_api_key(session, account_id, api_key_id)
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is None:
        key.revoked_at = now


def account_id_for_slug(session: Session, slug: str) -> uuid.UUID | None:
    """The account a public URL names by its slug, if any."""
    return repo.get_account_id_by_slug(session, slug)


# --- account settings -------------------------------------------------------------------


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    """The caller's account (404 only if it was deleted under a live token)."""
    account = repo.get_account(session, account_id)
    if account is None:
        raise NotFound("Account not found")
    return account


def update_account(
    session: Session,
    *,
    account_id: uuid.UUID,
    data: AccountPatch,
    expected_version: int | None = None,
) -> Account:
    """Change the settings sent; a stale version (body or If-Match) is 409, nothing changes.

    The row is locked first, so of two editors who read the same version exactly one wins.
    Only a real change counts as an edit (+1 version).
    """
    changes = data.changes()
    account = repo.get_account_for_update(session, account_id)
    if account is None:
        raise NotFound("Account not found")
    check_version(account.version, changes.pop("version", None), expected_version, what="account")
    edited = {k: v for k, v in changes.items() if getattr(account, k) != v}
    for field, value in edited.items():
        setattr(account, field, value)
    if edited:
        account.version += 1
        account.updated_at = utcnow()
        session.flush()
    return account


def settings_of(session: Session, account_id: uuid.UUID) -> AccountSettings:
    """An account's settings for other contexts (analytics buckets days by `.zone`)."""
    account = get_account(session, account_id)
    return AccountSettings(
        account_id=account.id,
        timezone=account.timezone,
        require_tracking_consent=account.require_tracking_consent,
        version=account.version,
    )


def timezones(session: Session, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The time zone of each account (analytics rolls days in it); a missing account is left out."""
    return repo.timezones(session, account_ids) if account_ids else {}
