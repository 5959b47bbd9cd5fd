"""The drain: stream entries into analytics_events, acknowledged only after the commit.

One run reads through the consumer group (`stream.GROUP`) as the consumer named for its
process, first taking over entries another consumer left pending longer than
ANALYTICS_DRAIN_CLAIM_IDLE_SECONDS (XAUTOCLAIM: that consumer died, or is stuck), then new
ones (XREADGROUP). Each batch is one transaction (store.store); after its commit the
entries are acknowledged and deleted in one MULTI, so the stream holds exactly what is not
stored yet. A crash before the acknowledgement means the entries are read again and the
unique key stores their events once. Any number of runs may go at once: the group hands
each entry to one consumer at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import psycopg
import redis
from sqlalchemy import exc as sa_exc

from domain.analytics import store, stream
from domain.shared.db import unit_of_work
from domain.shared.settings import get_settings

log = logging.getLogger(__name__)

DEAD_LETTER_KEY = "analytics:events:dead"
"""Entries that can never be stored (a malformed entry or event), kept for an operator."""
# Entries of the first XREADGROUP (and of an XAUTOCLAIM); the next reads ask for as many
# entries as the events seen per entry say are missing, up to MAX_READ_COUNT.
READ_COUNT = 10
MAX_READ_COUNT = 500
# A consumer with nothing pending that has not read for this long is gone: forget it.
FORGET_CONSUMER_AFTER_MS = 3_600_000
# What a bad entry raises (a bad value in COPY, a missing field); never a database outage.
_POISON = (
    sa_exc.DataError,
    sa_exc.IntegrityError,
    psycopg.DataError,
    psycopg.IntegrityError,
    ValueError,
    KeyError,
    TypeError,
)

StreamEntry = tuple[str, dict[str, str] | None]
T = TypeVar("T")

_clients: dict[int, redis.Redis] = {}


def client() -> redis.Redis:
    """This process's client of REDIS_URL (a forked worker gets its own)."""
    pid = os.getpid()
    if pid not in _clients:
        url = get_settings().redis_url
        if not url:
            raise RuntimeError("REDIS_URL is not set")
        _clients[pid] = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10
        )
    return _clients[pid]


def consumer_name() -> str:
    """This process's consumer in the group: a dead process's entries are claimed by others."""
    return f"{socket.gethostname()}-{os.getpid()}"


def ensure_group(r: redis.Redis) -> None:
    """Create the group (and the stream) unless it exists; from id 0, so nothing is skipped."""
    try:
        r.xgroup_create(stream.STREAM_KEY, stream.GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def with_group(r: redis.Redis, call: Callable[[], T]) -> T:
    """call(), re-creating a missing group once (Redis restarted without its data): a
    NOGROUP error never loops."""
    try:
        return call()
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        log.warning("analytics drain: group %s missing, creating it", stream.GROUP)
        ensure_group(r)
        return call()


def _claim(r: redis.Redis, consumer: str, count: int) -> list[StreamEntry]:
    """Entries pending in any consumer for longer than the claim setting, now ours."""
    idle_ms = int(get_settings().analytics_drain_claim_idle_seconds * 1000)
    answer: Any = r.xautoclaim(
        stream.STREAM_KEY, stream.GROUP, consumer, idle_ms, "0-0", count=count
    )
    return list(answer[1])


def _read_new(r: redis.Redis, consumer: str, count: int) -> Any:
    """Up to count entries never delivered to the group."""
    return r.xreadgroup(stream.GROUP, consumer, {stream.STREAM_KEY: ">"}, count)


def _read(r: redis.Redis, consumer: str) -> list[StreamEntry]:
    """A batch: claimed entries if any, else new ones, up to the batch's events."""
    target = get_settings().analytics_drain_batch_events
    entries = with_group(r, lambda: _claim(r, consumer, READ_COUNT))
    if entries:
        return entries
    events, count = 0, READ_COUNT
    while events < target:
        answer: Any = with_group(r, partial(_read_new, r, consumer, count))
        got: list[StreamEntry] = list(answer[0][1]) if answer else []
        entries.extend(got)
        # An estimate (the events stay JSON text): one "event_id" key per event.
        events += sum(fields.get("events", "").count('"event_id"') for _, fields in got if fields)
        if len(got) < count:
            break
        per_entry = max(1, events // len(entries))
        count = min(MAX_READ_COUNT, max(1, -(-(target - events) // per_entry)))
    return entries


def _decode(entries: list[StreamEntry]) -> list[store.Entry]:
    """The entries as the store takes them, events left as JSON text for PostgreSQL to
    expand (the fields of stream.encode_entry; one deleted meanwhile has none)."""
    return [
        store.Entry(fields["account_id"], fields["received_at"], fields["events"])
        for _, fields in entries
        if fields
    ]


def _done(r: redis.Redis, ids: list[str]) -> None:
    """Acknowledge and delete entries whose events are committed (one MULTI)."""
    if ids:
        pipe = r.pipeline(transaction=True)
        pipe.xack(stream.STREAM_KEY, stream.GROUP, *ids)
        pipe.xdel(stream.STREAM_KEY, *ids)
        pipe.execute()


def _store_one_by_one(r: redis.Redis, entries: list[StreamEntry]) -> store.Stored:
    """A batch that failed on its data: store entry by entry, dead-lettering the bad ones."""
    total = store.Stored()
    for entry_id, fields in entries:
        try:
            with unit_of_work() as session:
                total += store.store(session, _decode([(entry_id, fields)]))
        except _POISON as exc:
            log.error("analytics drain: entry %s dead-lettered: %s", entry_id, exc)
            dead: dict[Any, Any] = {**(fields or {}), "entry_id": entry_id, "error": str(exc)}
            r.xadd(DEAD_LETTER_KEY, dead)
        _done(r, [entry_id])
    return total


@dataclass
class RunResult:
    """What one drain run did."""

    batches: int = 0
    entries: int = 0
    stored: store.Stored = field(default_factory=store.Stored)
    caught_up: bool = False

    def summary(self) -> dict[str, Any]:
        """Counts for the task's result (Flower)."""
        return {
            "batches": self.batches,
            "entries": self.entries,
            "inserted": self.stored.inserted,
            "duplicates": self.stored.duplicates,
            "dropped": self.stored.dropped,
            "caught_up": self.caught_up,
        }


def _own_pending(r: redis.Redis, consumer: str) -> list[StreamEntry]:
    """Entries this consumer read and did not acknowledge: an earlier run of this process
    failed (the database was down); they are taken again at once, not after the claim wait."""
    answer: Any = with_group(
        r,
        lambda: r.xreadgroup(stream.GROUP, consumer, {stream.STREAM_KEY: "0"}, MAX_READ_COUNT),
    )
    return list(answer[0][1]) if answer else []


def drain_batch(
    r: redis.Redis, consumer: str, entries: list[StreamEntry] | None = None
) -> tuple[int, store.Stored]:
    """Read (unless given), store and acknowledge one batch: (entries, what was stored)."""
    entries = entries if entries is not None else _read(r, consumer)
    if not entries:
        return 0, store.Stored()
    try:
        with unit_of_work() as session:
            stored = store.store(session, _decode(entries))
    except _POISON:
        log.warning("analytics drain: a batch failed on its data; storing entry by entry")
        return len(entries), _store_one_by_one(r, entries)
    _done(r, [entry_id for entry_id, _ in entries])
    return len(entries), stored


def run(r: redis.Redis, consumer: str, *, seconds: float) -> RunResult:
    """Drain batches until the stream is empty for us or `seconds` have passed."""
    result = RunResult()
    deadline = time.monotonic() + seconds
    forget_idle_consumers(r, keep=consumer)
    retry = _own_pending(r, consumer)
    while time.monotonic() < deadline:
        count, stored = drain_batch(r, consumer, retry) if retry else drain_batch(r, consumer)
        retry = []
        if not count:
            result.caught_up = True
            break
        result.batches += 1
        result.entries += count
        result.stored += stored
    return result


def forget_idle_consumers(r: redis.Redis, *, keep: str) -> None:
    """Delete consumers of dead processes once nothing is pending in them (else their names
    pile up in the group, one per worker process ever started)."""
    try:
        consumers: Any = with_group(r, lambda: r.xinfo_consumers(stream.STREAM_KEY, stream.GROUP))
    except redis.ResponseError:
        ensure_group(r)  # no stream yet
        return
    for info in consumers:
        if info["name"] != keep and not info["pending"] and info["idle"] > FORGET_CONSUMER_AFTER_MS:
            r.xgroup_delconsumer(stream.STREAM_KEY, stream.GROUP, info["name"])
