"""Funnel analytics: tracking in (#42, #43) and the realtime report (#47)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.deps import CurrentPrincipal, DbSession, SettingsDep, _principal, client_ip
from api.ratelimit import Budget, apply_counts, budget_windows
from domain.analytics import ingest, realtime
from domain.analytics.schemas import (
    BatchAcceptedOut,
    MinuteOut,
    RealtimeOut,
    RejectionOut,
    TrackAcceptedOut,
    TrackBatchIn,
    TrackBatchValid,
    TrackIn,
)
from domain.analytics.writer import Append, QueueUnavailable, Window, writer_for_loop
from domain.shared.db import unit_of_work, utcnow
from domain.shared.errors import AppError, InvalidInput, NotFound, Unauthorized
from domain.shared.settings import Settings, get_settings

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

_TRACK = TypeAdapter(TrackIn)
_BATCH = TypeAdapter(TrackBatchIn)
_VALID_BATCH = TypeAdapter(TrackBatchValid)


class UnsupportedMediaType(AppError):
    """A tracking body is JSON, sent as application/json or text/plain."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Send the body as application/json or text/plain (JSON either way)"


TRACK_PATHS = ("/api/v1/analytics/track", "/api/v1/analytics/track/batch")


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    """What the tracking routes read by hand, for the document: key, bearer and body.

    They take the raw request (FastAPI's parameter and dependency machinery costs more than
    the rest of the request together) and parse the body with pydantic's JSON parser; the
    document still states every input. The body may come as text/plain (sendBeacon).
    """
    schema = model.model_json_schema()
    return {
        "security": [{"HTTPBearer": []}],
        "parameters": [
            {
                "name": "X-Publishable-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
            },
            {
                "name": "key",
                "in": "query",
                "required": False,
                "description": "publishable key",
                "schema": {"type": "string", "maxLength": 200},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in ("application/json", "text/plain")},
        },
    }


QUEUED: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Redis did not take the events (`analytics_unavailable`): nothing "
        "was accepted; send them again"
    },
}
# What the hand-read credentials and body can answer (FastAPI infers these for parameters).
TRACKING: dict[int | str, dict[str, Any]] = {
    **QUEUED,
    401: {
        "description": "No bearer and no publishable key, or a wrong one "
        "(`not_authenticated`, `invalid_publishable_key`, `invalid_token`, ...)"
    },
    415: {"description": "A body neither application/json nor text/plain"},
    429: {"description": "Rate limit exceeded (`rate_limited`): wait `retry_after` seconds"},
}


def _settings(request: Request) -> Settings:
    """The settings (an override of get_settings in tests too), without a thread hop."""
    provider = request.app.dependency_overrides.get(get_settings, get_settings)
    settings: Settings = provider()
    return settings


_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,200}")
_BODY_MEDIA = ("application/json", "text/plain", "")


async def _body(request: Request, adapter: TypeAdapter[T]) -> T:
    """The body, JSON (as application/json or text/plain), validated; 415 or 422 otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _BODY_MEDIA and not media.endswith("+json"):
        raise UnsupportedMediaType()
    try:
        return adapter.validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def _bearer_of(request: Request) -> HTTPAuthorizationCredentials | None:
    """An `Authorization: Bearer` value, as HTTPBearer reads it (other schemes: none)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())


def _check_length(value: str | None, where: str, name: str) -> None:
    """A key parameter holds its documented 200 characters at most, even beside a bearer."""
    if value is not None and len(value) > 200:
        raise RequestValidationError(
            [
                {
                    "loc": (where, name),
                    "msg": "String should have at most 200 characters",
                    "type": "string_too_long",
                }
            ]
        )


@dataclass(frozen=True)
class Caller:
    """The account events are for, and the rate-limit windows still to count them in."""

    account_id: uuid.UUID
    windows: list[tuple[str, int, int]]


def _bearer_caller(request: Request, settings: Settings, bearer: Any) -> uuid.UUID:
    """A JWT or API key, authenticated and counted as on every management route."""
    with unit_of_work() as db:
        return _principal(request, db, settings, bearer).account_id


async def _caller(request: Request, settings: Settings, body_key: str | None) -> Caller:
    """Who is sending: a bearer, or the publishable key (header, query or body)."""
    header, query = request.headers.get("x-publishable-key"), request.query_params.get("key")
    _check_length(header, "header", "x-publishable-key")
    _check_length(query, "query", "key")
    bearer = _bearer_of(request)
    if bearer is not None:
        account_id = await run_in_threadpool(_bearer_caller, request, settings, bearer)
        return Caller(account_id, [])
    key = header or query or body_key
    if not key:
        raise Unauthorized(
            "Send a bearer token or the account's publishable key", code="not_authenticated"
        )
    if not _KEY_SHAPE.fullmatch(key):  # never a query the database would refuse to encode
        raise Unauthorized("Invalid publishable key", code="invalid_publishable_key")
    account_id = await ingest.account_for_key(key, settings)
    # The checkout's budgets: the address's own first, then the merchant's public one.
    budgets = [
        Budget(
            settings.rate_limit_tracking_client,
            f"public:{account_id}:{client_ip(request, settings)}",
        ),
        Budget(settings.rate_limit_tracking, f"tracking:{account_id}"),
    ]
    return Caller(account_id, budget_windows(settings, budgets))


async def _queue(
    request: Request,
    settings: Settings,
    caller: Caller,
    events: list[dict[str, Any]],
    received_at: datetime,
) -> None:
    """Append one entry (and count the request); returns once Redis has it, else 503/429."""
    if not settings.redis_url:
        raise QueueUnavailable()
    minutes = max(settings.analytics_realtime_minutes, settings.analytics_active_minutes)
    item = Append(
        account_id=caller.account_id,
        received_at=received_at,
        events=events,
        windows=[Window(*window) for window in caller.windows],
        realtime=realtime.groups(events, received_at),
        realtime_ttl=realtime.ttl_seconds(minutes),
    )
    writer = writer_for_loop(settings.redis_url, settings.analytics_queue_timeout_seconds)
    appended = await writer.append(item)
    apply_counts(request, caller.windows, appended.windows)


def _with_body_loc(refusal: ingest.Refusal, *prefix: str | int) -> list[dict[str, Any]]:
    """A refusal's details located in the request body."""
    return [
        {**detail, "loc": ["body", *map(str, prefix), *detail["loc"]]} for detail in refusal.details
    ]


@router.post(
    "/track",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrackAcceptedOut,
    responses={
        **TRACKING,
        404: {"description": "No funnel with that id in the caller's account (`funnel_not_found`)"},
        422: {
            "description": "occurred_at outside the accepted window "
            "(`occurred_at_too_old`, `occurred_at_in_future`)"
        },
    },
    openapi_extra=_documented(TrackIn),
)
async def track(request: Request) -> JSONResponse:
    """Accept one event from a page: 202 once it is in the durable queue.

    Send the publishable key (X-Publishable-Key, `?key=` or a `key` field) or a bearer.
    A `text/plain` body holding the JSON is read as JSON (navigator.sendBeacon), and any
    origin may call. The event is stored by the drain workers shortly; resent with the same
    `event_id` and `occurred_at`, it is stored once.
    """
    settings = _settings(request)
    body = await _body(request, _TRACK)
    caller = await _caller(request, settings, body.key)
    now = utcnow()
    refusal = ingest.check_time(body, now, settings)
    if refusal is None and not await ingest.owned_funnels(
        caller.account_id, {body.funnel_id}, settings
    ):
        refusal = ingest.FUNNEL_NOT_FOUND
    # A refused request is counted too (nothing is appended): bad events spend the budget.
    events = ingest.stream_events([body], now) if refusal is None else []
    await _queue(request, settings, caller, events, now)
    if refusal is ingest.FUNNEL_NOT_FOUND:
        raise NotFound(refusal.error, code=refusal.code, details=_with_body_loc(refusal))
    if refusal is not None:
        raise InvalidInput(refusal.error, code=refusal.code, details=_with_body_loc(refusal))
    return JSONResponse({"accepted": 1, "event_id": body.event_id}, status_code=202)


def _first(pair: tuple[int, ingest.Refusal]) -> int:
    return pair[0]


def _rejection(index: int, refusal: ingest.Refusal) -> RejectionOut:
    return RejectionOut(
        index=index,
        code=refusal.code,
        error=refusal.error,
        details=_with_body_loc(refusal, "events", index),
    )


@router.post(
    "/track/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAcceptedOut,
    responses=TRACKING,
    openapi_extra=_documented(TrackBatchIn),
)
async def track_batch(request: Request) -> JSONResponse:
    """Accept up to 500 events in one request: 202 with each refused event by its index.

    Each event is checked on its own (as /track checks it; a funnel of another account is
    `funnel_not_found`); the accepted ones are queued together as one entry even when others
    are refused. A body that is not a batch at all is a 4xx and queues nothing.
    """
    settings = _settings(request)
    body: TrackBatchValid | TrackBatchIn
    try:  # the common case, in one pass of pydantic-core: every event is valid
        body = await _body(request, _VALID_BATCH)
    except RequestValidationError:
        body = await _body(request, _BATCH)  # then each event is checked on its own
    caller = await _caller(request, settings, body.key)
    now = utcnow()
    valid, refused = ingest.sort_events(body.events, now, settings)
    owned = await ingest.owned_funnels(
        caller.account_id, {event.funnel_id for _, event in valid}, settings
    )
    refused += [(i, ingest.FUNNEL_NOT_FOUND) for i, event in valid if event.funnel_id not in owned]
    accepted = ingest.stream_events([e for _, e in valid if e.funnel_id in owned], now)
    await _queue(request, settings, caller, accepted, now)
    rejected = [_rejection(index, refusal) for index, refusal in sorted(refused, key=_first)]
    out = BatchAcceptedOut(accepted=len(accepted), rejected=rejected)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)


_realtime_cache: ingest.TtlCache[realtime.Figures] = ingest.TtlCache(10_000)
REALTIME_CACHE_SECONDS = 5.0


@router.get("/funnels/{funnel_id}/realtime", response_model=RealtimeOut, responses=QUEUED)
def realtime_report(
    funnel_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, settings: SettingsDep
) -> RealtimeOut:
    """Active visitors and events per minute over the last minutes (cached 5 s).

    Counted when events are accepted, by the minute they were received; minutes are shown
    in the account's time zone, and `as_of` says when the figures were read.
    """
    zone = realtime.check_funnel(db, account_id=principal.account_id, funnel_id=funnel_id)
    found, figures = _realtime_cache.get(funnel_id)
    if not found or figures is None:
        figures = realtime.read_figures(settings, funnel_id, utcnow())
        _realtime_cache.put(funnel_id, figures, REALTIME_CACHE_SECONDS)
    return RealtimeOut(
        funnel_id=funnel_id,
        time_zone=zone.key,
        as_of=figures.as_of,
        active_minutes=settings.analytics_active_minutes,
        active_visitors=figures.active_visitors,
        events_per_minute=[
            MinuteOut(minute=minute.astimezone(zone), events=count)
            for minute, count in figures.per_minute
        ],
    )


FAST_ROUTES = {TRACK_PATHS[0]: track, TRACK_PATHS[1]: track_batch}
"""The tracking routes' functions by path, for api.middleware.FastLane."""
