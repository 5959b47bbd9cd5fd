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


def check_time(event: TrackEventIn, now: datetime, settings: Settings) -> Refusal | None:
    """An event's time must lie within the late window and the future skew."""
    if event.occurred_at is None:
        return None
    if event.occurred_at < now - timedelta(days=settings.analytics_late_event_days):
        return Refusal(
            "occurred_at_too_old",
            f"occurred_at is more than {settings.analytics_late_event_days} days ago",
            [{"loc": ["occurred_at"], "msg": "too old", "type": "occurred_at_too_old"}],
        )
    if event.occurred_at > now + timedelta(seconds=settings.analytics_future_skew_seconds):
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


def stream_event(event: TrackEventIn, received_at: datetime) -> dict[str, Any]:
    """The event as the stream carries it (stream.EVENT_FIELDS; uuids and times as strings)."""
    return {
        "event_id": event.event_id,
        "type": event.type,
        "source": "client",
        "funnel_id": str(event.funnel_id),
        "step_id": _text(event.step_id),
        "page_id": _text(event.page_id),
        "visitor_id": event.visitor_id,
        "session_id": event.session_id,
        "occurred_at": (event.occurred_at or received_at).isoformat(),
        "amount_cents": None,
        "currency": None,
        "order_id": None,
        "ab_test_id": _text(event.ab_test_id),
        "variant_id": _text(event.variant_id),
        "properties": event.properties,
    }


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


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
