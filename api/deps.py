"""Annotated dependencies: the unit of work, settings, the caller, paging, rate limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.openapi import answers
from api.ratelimit import Budget, enforce
from domain.accounts import service as accounts
from domain.accounts.schemas import Principal
from domain.shared.db import unit_of_work, utcnow
from domain.shared.errors import Forbidden, Unauthorized
from domain.shared.schemas import MAX_PAGE_SIZE, PageParams, SafeStr
from domain.shared.settings import Settings, get_settings


def _db() -> Iterator[Session]:
    with unit_of_work() as session:
        yield session


# scope="function": commit before the answer is sent, so a client never sees a write that
# later fails to commit, and reads its own writes on the next request.
DbSession = Annotated[Session, Depends(_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key (fk_...)")


def client_ip(request: Request) -> str:
    """The peer address (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


@answers(401, 429)
def _principal(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized(
            "Missing bearer token", code="not_authenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    principal = accounts.authenticate_bearer(db, settings, credentials.credentials, utcnow())
    enforce(
        request,
        settings,
        [
            Budget(settings.rate_limit_user, principal.rate_limit_key),
            Budget(settings.rate_limit_account, f"account:{principal.account_id}"),
        ],
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
"""A user (JWT) or an API key, rate-limited per caller and per account."""


@answers(403, s403="This endpoint needs a user's access token, not an API key")
async def _user(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "user":
        raise Forbidden("This endpoint needs a user's access token", code="user_token_required")
    return principal


CurrentUser = Annotated[Principal, Depends(_user)]
"""A logged-in user (account and key management are not for API keys)."""


async def _body_key(request: Request) -> str | None:
    """The publishable key sent as a `key` field of a JSON body (navigator.sendBeacon)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        body = json.loads(await request.body())  # cached by Starlette: the route parses it too
    except ValueError:
        return None  # the route's own parsing answers with the 422
    key = body.get("key") if isinstance(body, dict) else None
    return key if isinstance(key, str) and "\x00" not in key and len(key) <= 200 else None


@answers(401, 429)
def _checkout_caller(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    body_key: Annotated[str | None, Depends(_body_key)],
    x_publishable_key: Annotated[SafeStr | None, Header(max_length=200)] = None,
    key: Annotated[SafeStr | None, Query(max_length=200, description="publishable key")] = None,
) -> Principal:
    if credentials is not None:
        return _principal(request, db, settings, credentials)
    publishable = x_publishable_key or key or body_key
    if not publishable:
        raise Unauthorized(
            "Send a bearer token or the account's publishable key", code="not_authenticated"
        )
    principal = accounts.authenticate_publishable_key(db, publishable)
    enforce(
        request,
        settings,
        [Budget(settings.rate_limit_tracking, f"tracking:{principal.account_id}")],
    )
    return principal


PublicCaller = Annotated[Principal, Depends(_checkout_caller)]
"""Checkout pages and tracking: a bearer, or the publishable key (X-Publishable-Key, ?key= or
a `key` field of the JSON body), counted against the account's much larger tracking budget."""


@answers(429)
def auth_rate_limit(request: Request, settings: SettingsDep) -> None:
    """The strict per-address budget of the unauthenticated auth endpoints."""
    enforce(request, settings, [Budget(settings.rate_limit_login, f"auth-ip:{client_ip(request)}")])


# The pure dependencies are async: a plain function would cost a thread-pool hop per request.
async def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


Pagination = Annotated[PageParams, Depends(_page)]


# What _if_match_version reads, as the document states it: 3, "3" or W/"3".
IF_MATCH_PATTERN = r'^(?:(?:W/)?"[0-9]{1,9}"|[0-9]{1,9})$'


async def _if_match_version(
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN,
            description='The edit version this write is based on: `3`, `"3"` or `W/"3"`',
        ),
    ] = None,
) -> int | None:
    """The version named by an If-Match header (plain or quoted ETag form), if any."""
    if if_match is None:
        return None
    return int(if_match.removeprefix("W/").strip('"'))


IfMatchVersion = Annotated[int | None, Depends(_if_match_version)]
