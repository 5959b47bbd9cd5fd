"""Secrets: password hashing (argon2), access tokens (JWT), and random opaque tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.shared.settings import Settings

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

API_KEY_PREFIX = "fk_"
PUBLISHABLE_KEY_PREFIX = "pk_"


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when password matches; always spends the hashing time."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy token: enough for random secrets, and fast to look up."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    """An opaque refresh token."""
    return "rt_" + secrets.token_urlsafe(32)


def new_api_key() -> str:
    """An API key as shown to its owner once."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_publishable_key() -> str:
    """A public tracking/checkout key."""
    return PUBLISHABLE_KEY_PREFIX + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says about its bearer."""

    user_id: uuid.UUID
    account_id: uuid.UUID
    session_id: uuid.UUID


def create_access_token(settings: Settings, claims: AccessClaims, now: datetime) -> str:
    """A signed, short-lived JWT."""
    payload = {
        "sub": str(claims.user_id),
        "acc": str(claims.account_id),
        "sid": str(claims.session_id),
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=settings.jwt_algorithm)


def decode_access_token(settings: Settings, token: str) -> AccessClaims | None:
    """The claims of a valid, unexpired access token, else None."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub", "acc", "sid", "typ"]},
        )
        if payload["typ"] != "access":
            return None
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            account_id=uuid.UUID(payload["acc"]),
            session_id=uuid.UUID(payload["sid"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
