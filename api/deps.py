"""Annotated dependencies: the unit of work, settings, the caller, paging, rate limits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.openapi import answers
from api.ratelimit import Budget, count_request
from domain.accounts import service as accounts
from domain.accounts.schemas import Principal
from domain.shared.db import unit_of_work, utcnow
from domain.shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from domain.shared.schemas import MAX_PAGE_SIZE, PageParams, SafeStr, parse_json
from domain.shared.settings import Settings, get_settings, trusted_networks


def _db() -> Iterator[Session]:
    with unit_of_work() as session:
        yield session


# scope="function": commit before the answer is sent, so a client never sees a write that
# later fails to commit, and reads its own writes on the next request.
DbSession = Annotated[Session, Depends(_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key (fk_...)")


@answers(503, s503="Payments are not configured (a Stripe secret is unset or a placeholder)")
async def _payments_configured(settings: SettingsDep) -> None:
    """503 payments_not_configured while a Stripe secret is unset or a placeholder."""
    missing = settings.missing_payment_settings()
    if missing:
        raise ServiceUnavailable(
            f"Payments are not configured: set {', '.join(missing)}",
            code="payments_not_configured",
        )


PaymentsConfigured = Depends(_payments_configured)
"""For the routes that move money or call Stripe (a route-level dependency: it runs first)."""


def client_ip(request: Request, settings: Settings | None = None) -> str:
    """The client's address: the peer, or behind TRUSTED_PROXIES what X-Forwarded-For says.

    The header is read right to left, skipping trusted proxies: the first address that is not
    one is the client (anything further left was written by the client itself). A hop that is
    not an address ends the walk at the last trusted one.
    """
    peer = request.client.host if request.client else "unknown"
    networks = trusted_networks((settings or get_settings()).trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops):
        if _address(hop) is None:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


def _address(value: str) -> IPv4Address | IPv6Address | None:
    """value as an IP address (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(value: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """True when value is an address inside one of the trusted networks."""
    address = _address(value)
    return address is not None and any(
        address.version == network.version and address in network for network in networks
    )


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
    count_request(
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


_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,200}")


async def _body_key(request: Request) -> str | None:
    """The publishable key sent as a `key` field of a JSON body (navigator.sendBeacon)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    try:
        body = parse_json(await request.body())  # cached by Starlette: the route parses it too
    except ValueError:
        return None  # the route's own parsing answers with the 4xx
    key = body.get("key") if isinstance(body, dict) else None
    # Keys are printable ASCII: anything else (NUL, lone surrogates) is no key, and must not
    # reach a query the database would refuse to encode.
    return key if isinstance(key, str) and _KEY_SHAPE.fullmatch(key) else None


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
    # Anonymous callers share the merchant's public budget, so each address has its own
    # smaller one first: one client holding the public key cannot lock out every buyer.
    address = client_ip(request, settings)
    count_request(
        request,
        settings,
        [
            Budget(settings.rate_limit_tracking_client, f"public:{principal.account_id}:{address}"),
            Budget(settings.rate_limit_tracking, f"tracking:{principal.account_id}"),
        ],
    )
    return principal


PublicCaller = Annotated[Principal, Depends(_checkout_caller)]
"""Checkout pages and tracking: a bearer, or the publishable key (X-Publishable-Key, ?key= or
a `key` field of the JSON body), counted against the account's much larger tracking budget."""


@answers(429)
def auth_rate_limit(request: Request, settings: SettingsDep) -> None:
    """The strict per-address budget of the unauthenticated auth endpoints."""
    address = client_ip(request, settings)
    count_request(request, settings, [Budget(settings.rate_limit_login, f"auth-ip:{address}")])


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
