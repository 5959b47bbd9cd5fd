"""The API's side of the stream: accepted requests share one pipelined Redis round trip.

Each request hands its entry to the writer of its event loop and waits for the flush that
carries it; a flush is one pipeline of one Lua call per request, which counts the caller's
rate-limit windows (the `limits` library's fixed-window counters, so the checkout shares the
same budget), and only if none is spent appends the entry (XADD) and bumps the realtime
counters. So a 202 is answered only after Redis acknowledged the XADD (and, with
`appendfsync always`, wrote it to its append-only file), and a refused request leaves no entry.
While one flush is on the wire the next requests gather; under load a flush carries dozens.
Redis 6.2 commands only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from domain.analytics.stream import STREAM_KEY, encode_entry
from domain.shared.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# KEYS: the stream, the n rate-limit counters, two keys per realtime group (count, visitors).
# ARGV: n, groups, realtime ttl, account_id, received_at, events; (limit, expiry) per counter;
# per group: its event count, its number of visitors, the visitors.
# A request with no events is only counted. Returns {1 accepted | 0 refused, entry id,
# used_1, pttl_1, used_2, pttl_2, ...}. Windows are counted in order and a spent one stops
# the count, as api/ratelimit.py does.
APPEND_SCRIPT = """
local n = tonumber(ARGV[1])
local groups = tonumber(ARGV[2])
local out = {1, ''}
local refused = false
for i = 1, n do
  local key = KEYS[1 + i]
  local used
  if refused then
    used = tonumber(redis.call('GET', key) or '0')
  else
    used = redis.call('INCRBY', key, 1)
    if used == 1 then redis.call('EXPIRE', key, ARGV[6 + 2 * i]) end
    if used > tonumber(ARGV[5 + 2 * i]) then refused = true end
  end
  out[#out + 1] = used
  out[#out + 1] = redis.call('PTTL', key)
end
if refused then
  out[1] = 0
  return out
end
if ARGV[6] == '[]' then
  return out
end
out[2] = redis.call('XADD', KEYS[1], '*', 'account_id', ARGV[4], 'received_at', ARGV[5],
                    'events', ARGV[6])
local a = 7 + 2 * n
local k = 2 + n
for g = 1, groups do
  local visitors = tonumber(ARGV[a + 1])
  redis.call('INCRBY', KEYS[k], ARGV[a])
  redis.call('EXPIRE', KEYS[k], ARGV[3])
  if visitors > 0 then
    redis.call('PFADD', KEYS[k + 1], unpack(ARGV, a + 2, a + 1 + visitors))
    redis.call('EXPIRE', KEYS[k + 1], ARGV[3])
  end
  a = a + 2 + visitors
  k = k + 2
end
return out
"""


class QueueUnavailable(ServiceUnavailable):
    """Redis did not take the events: nothing was accepted, the client should send again."""

    code = "analytics_unavailable"
    message = "Tracking is unavailable right now; nothing was accepted, send the events again"


@dataclass(frozen=True)
class Window:
    """One rate-limit window to count the request in: its Redis key, limit and seconds."""

    key: str
    limit: int
    expiry: int


@dataclass(frozen=True)
class RealtimeGroup:
    """A funnel's share of a request for the realtime counters of the current minute."""

    count_key: str
    visitors_key: str
    events: int
    visitors: tuple[str, ...]


@dataclass
class Append:
    """One request's entry and what to count for it."""

    account_id: uuid.UUID
    received_at: datetime
    events: list[dict[str, Any]]
    windows: list[Window] = field(default_factory=list)
    realtime: list[RealtimeGroup] = field(default_factory=list)
    realtime_ttl: int = 0

    def script_call(self) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the append script for this request."""
        entry = encode_entry(self.account_id, self.events, self.received_at)
        keys = [STREAM_KEY, *(w.key for w in self.windows)]
        args: list[Any] = [
            len(self.windows),
            len(self.realtime),
            self.realtime_ttl,
            entry["account_id"],
            entry["received_at"],
            entry["events"],
        ]
        for window in self.windows:
            args += [window.limit, window.expiry]
        for group in self.realtime:
            keys += [group.count_key, group.visitors_key]
            args += [group.events, len(group.visitors), *group.visitors]
        return keys, args


@dataclass(frozen=True)
class Appended:
    """What Redis said: the entry id (None when a window was spent) and each window's figures."""

    entry_id: str | None
    windows: list[tuple[int, int]]
    """(requests counted in the window, milliseconds until it resets), in the order given."""


def _appended(reply: list[Any]) -> Appended:
    """The script's reply as an Appended."""
    figures = [(int(reply[i]), int(reply[i + 1])) for i in range(2, len(reply), 2)]
    entry = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
    return Appended(entry_id=entry if int(reply[0]) == 1 else None, windows=figures)


Waiting = tuple[Append, "asyncio.Future[Appended]"]


class StreamWriter:
    """Appends requests' entries in shared pipelined flushes, one flush on the wire at a time."""

    def __init__(self, redis_url: str, timeout: float) -> None:
        """A client of its own (bound to the running loop); nothing connects yet."""
        self._client = aioredis.Redis.from_url(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._timeout = timeout
        self._pending: list[Waiting] = []
        self._flushing: asyncio.Task[None] | None = None
        self._sha: str | None = None

    async def append(self, item: Append) -> Appended:
        """Wait for the flush carrying item; QueueUnavailable if Redis did not take it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        """Flush whatever gathered, until nothing is waiting."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            self._flushing = None

    async def _flush(self, batch: list[Waiting]) -> None:
        """One pipeline for the batch; every waiter gets its answer or QueueUnavailable."""
        calls = [item.script_call() for item, _ in batch]
        try:
            replies = await asyncio.wait_for(self._execute(calls), self._timeout * 2)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("analytics: Redis did not take %d entries: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(QueueUnavailable())
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the client went away; its entry stands (stored once anyway)
                continue
            if isinstance(reply, Exception):
                log.warning("analytics: Redis refused an entry: %r", reply)
                future.set_exception(QueueUnavailable())
            else:
                future.set_result(_appended(reply))

    async def _execute(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """EVALSHA each call in one pipeline; load the script first if Redis lost it."""
        if self._sha is None:
            self._sha = str(await self._client.script_load(APPEND_SCRIPT))
        replies = await self._pipeline(calls)
        if any(isinstance(reply, NoScriptError) for reply in replies):
            # A restarted Redis forgets scripts; a NOSCRIPT reply ran nothing, so run those again.
            self._sha = str(await self._client.script_load(APPEND_SCRIPT))
            again = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            for i, reply in zip(
                again, await self._pipeline([calls[i] for i in again]), strict=True
            ):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """One round trip of EVALSHA calls; errors come back in place of replies."""
        assert self._sha is not None
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamWriter] = (
    weakref.WeakKeyDictionary()
)


def writer_for_loop(redis_url: str, timeout: float) -> StreamWriter:
    """The running loop's writer (a redis.asyncio client belongs to one loop)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = StreamWriter(redis_url, timeout)
    return writer
