"""Registration, login sessions, the caller, and the publishable key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status

from api.deps import CurrentUser, DbSession, SettingsDep, auth_rate_limit
from api.ratelimit import Budget, count_request
from domain.accounts import service as accounts
from domain.accounts.schemas import (
    LoginIn,
    MeOut,
    PublishableKeyOut,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    TokenPair,
)
from domain.shared.db import utcnow

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

GONE: dict[int | str, dict[str, Any]] = {
    404: {"description": "The user or the account no longer exists"}
}


@router.post(
    "/register",
    response_model=RegisterOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(auth_rate_limit)],
    responses={409: {"description": "A user with this email exists (`email_taken`)"}},
)
def register(body: RegisterIn, db: DbSession, settings: SettingsDep) -> RegisterOut:
    """Create an account and its owner user; answers the owner's first tokens."""
    return accounts.register(db, settings, body, utcnow())


@router.post(
    "/login",
    response_model=TokenPair,
    dependencies=[Depends(auth_rate_limit)],
    responses={401: {"description": "Wrong email or password (`invalid_credentials`)"}},
)
def login(request: Request, body: LoginIn, db: DbSession, settings: SettingsDep) -> TokenPair:
    """Email and password for an access token and a refresh token."""
    count_request(
        request, settings, [Budget(settings.rate_limit_login, f"login-email:{body.email.lower()}")]
    )
    return accounts.login(db, settings, body, utcnow())


@router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[Depends(auth_rate_limit)],
    responses={401: {"description": "The refresh token is invalid, expired, reused or revoked"}},
)
def refresh(body: RefreshIn, db: DbSession, settings: SettingsDep) -> TokenPair:
    """Rotate the refresh token; reusing an old one revokes the whole login."""
    return accounts.refresh(db, settings, body.refresh_token, utcnow())


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(auth_rate_limit)],
    responses={401: {"description": "The refresh token is invalid (`invalid_refresh_token`)"}},
)
def logout(body: RefreshIn, db: DbSession) -> None:
    """Revoke the login of this refresh token: its access and refresh tokens stop working."""
    accounts.logout(db, body.refresh_token, utcnow())


@router.get("/me", response_model=MeOut, responses=GONE)
def me(principal: CurrentUser, db: DbSession) -> MeOut:
    """The user, the account, and its publishable tracking key."""
    return accounts.me(db, principal)


@router.post("/publishable-key/rotate", response_model=PublishableKeyOut, responses=GONE)
def rotate_publishable_key(principal: CurrentUser, db: DbSession) -> PublishableKeyOut:
    """A new publishable key; the old one stops working at once."""
    return PublishableKeyOut(
        publishable_key=accounts.rotate_publishable_key(db, principal.account_id)
    )
