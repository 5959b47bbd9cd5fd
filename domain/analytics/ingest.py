"""Ingestion's rules: which events are taken, for whom, and what goes into the stream.

Checks a body's schema cannot make: the event's time against the late and future windows,
and that its funnel is the caller's (through a short in-process cache of who owns what, so
the hot path does not query PostgreSQL). The account always comes from the credentials.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from anyio import to_thread
from pydantic import TypeAdapter, ValidationError

from domain.accounts import service as accounts
from domain.analytics.schemas import TrackEventIn
from domain.funnels import service as funnels
from domain.shared.db import unit_of_work
from domain.shared.errors import NotFound, Unauthorized
from domain.shared.settings import Settings

V = TypeVar("V")

_EVENT = TypeAdapter(TrackEventIn)
_EVENTS = TypeAdapter(list[TrackEventIn])


@dataclass(frozen=True)
class Refusal:
    """Why an event was not taken: a stable code, a message and the field concerned."""

    code: str
    error: str
    details: list[dict[str, Any]]


def refusal_of(exc: ValidationError) -> Refusal:
    """A pydantic error as a Refusal (locations inside the event)."""
    details = [
        {"loc": [str(part) for part in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return Refusal("validation_error", "The event is invalid", details)


def parse_event(raw: Any) -> TrackEventIn | Refusal:
    """One event of a batch, validated on its own."""
    try:
        return _EVENT.validate_python(raw)
    except ValidationError as exc:
        return refusal_of(exc)


def sort_events(
    raw: list[Any], now: datetime, settings: Settings
) -> tuple[list[tuple[int, TrackEventIn]], list[tuple[int, Refusal]]]:
    """A batch's events that pass their own checks and the refused ones, by index.

    raw: events already read as TrackEventIn, or JSON values. The whole list is validated
    in one call (pydantic-core's loop, not Python's); only a batch with a bad event is
    validated again event by event, to tell which.
    """
    parsed: list[TrackEventIn | Refusal]
    if all(isinstance(item, TrackEventIn) for item in raw):
        parsed = list(raw)  # read as events already (the route's fast path)
    else:
        try:
            parsed = list(_EVENTS.validate_python(raw))
        except ValidationError:
            parsed = [parse_event(item) for item in raw]
    oldest, latest = _window(now, settings)
    valid, refused = [], []
    for index, item in enumerate(parsed):
        if isinstance(item, Refusal):
            refused.append((index, item))
        elif item.occurred_at is not None and not oldest <= item.occurred_at <= latest:
            refused.append((index, check_time(item, now, settings) or FUNNEL_NOT_FOUND))
        else:
            valid.append((index, item))
    return valid, refused


def _window(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The oldest and the latest occurred_at accepted now."""
    return (
        now - timedelta(days=settings.analytics_late_event_days),
        now + timedelta(seconds=settings.analytics_future_skew_seconds),
    )


def check_time(event: TrackEventIn, now: datetime, settings: Settings) -> Refusal | None:
    """An event's time must lie within the late window and the future skew."""
    if event.occurred_at is None:
        return None
    oldest, latest = _window(now, settings)
    if event.occurred_at < oldest:
        return Refusal(
            "occurred_at_too_old",
            f"occurred_at is more than {settings.analytics_late_event_days} days ago",
            [{"loc": ["occurred_at"], "msg": "too old", "type": "occurred_at_too_old"}],
        )
    if event.occurred_at > latest:
        return Refusal(
            "occurred_at_in_future",
            f"occurred_at is more than {settings.analytics_future_skew_seconds} s ahead of "
            "the server's clock",
            [{"loc": ["occurred_at"], "msg": "in the future", "type": "occurred_at_in_future"}],
        )
    return None


FUNNEL_NOT_FOUND = Refusal(
    "funnel_not_found",
    "No funnel with that id in this account",
    [{"loc": ["funnel_id"], "msg": "no such funnel in this account", "type": "funnel_not_found"}],
)


# What a client never sends: the server's facts carry these (stream.EVENT_FIELDS).
_SERVER_ONLY = {"source": "client", "amount_cents": None, "currency": None, "order_id": None}


def stream_events(events: list[TrackEventIn], received_at: datetime) -> list[dict[str, Any]]:
    """The events as the stream carries them (stream.EVENT_FIELDS; uuids and times as text).

    Dumped by pydantic-core in one call; an event without occurred_at takes received_at.
    """
    received = received_at.isoformat()
    dumped: list[dict[str, Any]] = _EVENTS.dump_python(events, mode="json")
    for event in dumped:
        event.pop("key", None)  # /track's body may carry the publishable key
        event.update(_SERVER_ONLY)
        if event["occurred_at"] is None:
            event["occurred_at"] = received
    return dumped


class TtlCache(Generic[V]):
    """A small in-process cache whose entries expire; full, it starts over (no LRU upkeep)."""

    def __init__(self, max_entries: int = 50_000) -> None:
        """An empty cache."""
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._max = max_entries

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        """(found, value) of a live entry."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        """Remember value for ttl seconds."""
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        """Forget everything (tests)."""
        self._entries.clear()


_KEYS: TtlCache[uuid.UUID | None] = TtlCache()
_FUNNELS: TtlCache[bool] = TtlCache()


async def _cached(cache: TtlCache[V], key: Hashable, ttl: float, load: Callable[[], V]) -> V:
    """A cached value, loaded on a worker thread (a database read) when missing or expired."""
    found, value = cache.get(key)
    if found:
        return value  # type: ignore[return-value]
    value = await to_thread.run_sync(load)
    cache.put(key, value, ttl)
    return value


def _account_of_key(key: str) -> uuid.UUID | None:
    with unit_of_work() as session:
        try:
            return accounts.authenticate_publishable_key(session, key).account_id
        except Unauthorized:
            return None


async def account_for_key(key: str, settings: Settings) -> uuid.UUID:
    """The account of a publishable key (cached), or 401 invalid_publishable_key."""
    account_id = await _cached(
        _KEYS, key, settings.analytics_cache_seconds, lambda: _account_of_key(key)
    )
    if account_id is None:
        raise Unauthorized("Invalid publishable key", code="invalid_publishable_key")
    return account_id


def _owned(account_id: uuid.UUID, funnel_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """Whether each funnel is the account's, in one unit of work."""
    found = {}
    with unit_of_work() as session:
        for funnel_id in funnel_ids:
            try:
                funnels.get(session, account_id=account_id, funnel_id=funnel_id)
                found[funnel_id] = True
            except NotFound:
                found[funnel_id] = False
    return found


async def owned_funnels(
    account_id: uuid.UUID, funnel_ids: set[uuid.UUID], settings: Settings
) -> set[uuid.UUID]:
    """Which of these funnels are the account's (cached per account and funnel)."""
    owned, missing = set(), []
    for funnel_id in funnel_ids:
        found, value = _FUNNELS.get((account_id, funnel_id))
        if not found:
            missing.append(funnel_id)
        elif value:
            owned.add(funnel_id)
    if missing:
        loaded = await to_thread.run_sync(_owned, account_id, missing)
        for funnel_id, value in loaded.items():
            _FUNNELS.put((account_id, funnel_id), value, settings.analytics_cache_seconds)
            if value:
                owned.add(funnel_id)
    return owned


def forget_cached() -> None:
    """Drop both caches (tests that rotate keys or delete funnels)."""
    _KEYS.clear()
    _FUNNELS.clear()
