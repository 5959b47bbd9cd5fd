"""The API's side of the stream: accepted requests share one Redis call per flush.

Each request hands its entry to the writer of its event loop and waits for the flush that
carries it; a flush is one Lua call (EVALSHA) that, for each request in turn, counts the
caller's rate-limit windows (the `limits` library's fixed-window counters, so the checkout
shares the same budget) and only if none is spent appends the entry (XADD) and bumps the
realtime counters. So a 202 is answered only after Redis acknowledged the XADD (and, with
`appendfsync always`, wrote it to its append-only file), and a refused request leaves no entry.
While flushes are on the wire the next requests gather; under load a flush carries dozens.
Redis 6.2 commands only.
"""

from __future__ import annotations

import asyncio
import json
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

# One call per flush: KEYS[1] the stream; ARGV two per request: a JSON spec [realtime ttl,
# account_id, received_at, [[counter key, limit, window seconds], ...], [[count key, visitors
# key, events, [visitor, ...]], ...]] and the events' JSON. Per-command work in the client
# (packing, parsing, bookkeeping) was most of a request's cost, so a flush is one command and
# its reply one string: each request's "<1 accepted | 0 refused>|<entry id or
# empty>|<used>:<pttl ms>,...", joined by ";". Windows are counted in order and a spent one
# stops the count, as api/ratelimit.py does; a request with no events is only counted. (The
# counter and realtime keys are not declared in KEYS: one Redis, not a cluster.)
APPEND_SCRIPT = """
local out = {}
for r = 1, #ARGV, 2 do
  local spec = cjson.decode(ARGV[r])
  local events = ARGV[r + 1]
  local parts = {}
  local refused = false
  for _, w in ipairs(spec[4]) do
    local used
    if refused then
      used = tonumber(redis.call('GET', w[1]) or '0')
    else
      used = redis.call('INCRBY', w[1], 1)
      if used == 1 then redis.call('EXPIRE', w[1], w[3]) end
      if used > w[2] then refused = true end
    end
    parts[#parts + 1] = used .. ':' .. redis.call('PTTL', w[1])
  end
  local counts = table.concat(parts, ',')
  if refused then
    out[#out + 1] = '0||' .. counts
  elseif events == '[]' then
    out[#out + 1] = '1||' .. counts
  else
    local id = redis.call('XADD', KEYS[1], '*', 'account_id', spec[2],
                          'received_at', spec[3], 'events', events)
    for _, g in ipairs(spec[5]) do
      redis.call('INCRBY', g[1], g[3])
      redis.call('EXPIRE', g[1], spec[1])
      if #g[4] > 0 then
        redis.call('PFADD', g[2], unpack(g[4]))
        redis.call('EXPIRE', g[2], spec[1])
      end
    end
    out[#out + 1] = '1|' .. id .. '|' .. counts
  end
end
return table.concat(out, ';')
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

    def script_call(self) -> tuple[str, str]:
        """ARGV of the append script for this request."""
        entry = encode_entry(self.account_id, self.events, self.received_at)
        spec = [
            self.realtime_ttl,
            entry["account_id"],
            entry["received_at"],
            [[w.key, w.limit, w.expiry] for w in self.windows],
            [[g.count_key, g.visitors_key, g.events, g.visitors] for g in self.realtime],
        ]
        return json.dumps(spec, separators=(",", ":")), entry["events"]


@dataclass(frozen=True)
class Appended:
    """What Redis said: the entry id (None when a window was spent) and each window's figures."""

    entry_id: str | None
    windows: list[tuple[int, int]]
    """(requests counted in the window, milliseconds until it resets), in the order given."""


def _appended(reply: bytes | str) -> Appended:
    """The script's reply as an Appended."""
    text = reply.decode() if isinstance(reply, bytes) else reply
    accepted, entry, counts = text.split("|")
    figures = [
        (int(used), int(pttl))
        for used, pttl in (pair.split(":") for pair in counts.split(",") if pair)
    ]
    return Appended(entry_id=entry if accepted == "1" and entry else None, windows=figures)


Waiting = tuple[Append, "asyncio.Future[Appended]"]


class StreamWriter:
    """Appends requests' entries in shared flushes, up to FLUSHERS on the wire at once.

    One flush at a time would make every request wait for the one ahead of it as well as its
    own (Redis' fsync, the scheduler of a busy machine); a few concurrent flushes, each
    taking everything that gathered, keep the batching and halve that wait.
    """

    FLUSHERS = 4

    def __init__(self, redis_url: str, timeout: float) -> None:
        """A client of its own (bound to the running loop); nothing connects yet."""
        self._client = aioredis.Redis.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            max_connections=self.FLUSHERS + 1,
        )
        self._pending: list[Waiting] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._sha: str | None = None

    async def append(self, item: Append) -> Appended:
        """Wait for the flush carrying item; QueueUnavailable if Redis did not take it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._pending.append((item, future))
        if len(self._flushers) < self.FLUSHERS:
            task = loop.create_task(self._run())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await future

    async def _run(self) -> None:
        """Flush whatever gathered, until nothing is waiting."""
        # A new task first runs on the next turn of the loop: the requests ready in this
        # turn are in its first flush.
        while self._pending:
            batch, self._pending = self._pending, []
            await self._flush(batch)

    async def _flush(self, batch: list[Waiting]) -> None:
        """One call for the batch; every waiter gets its answer or QueueUnavailable."""
        args = [part for item, _ in batch for part in item.script_call()]
        try:
            reply = await self._execute(args)  # every read and connect has a timeout
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("analytics: Redis did not take %d entries: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(QueueUnavailable())
            return
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        for (_, future), one in zip(batch, text.split(";"), strict=True):
            if not future.done():  # else the client went away; its entry stands (stored once)
                future.set_result(_appended(one))

    async def _execute(self, args: list[str]) -> Any:
        """EVALSHA the flush; load the script first, and again if Redis lost it (restarted)."""
        if self._sha is None:
            self._sha = str(await self._client.script_load(APPEND_SCRIPT))
        try:
            return await self._client.evalsha(self._sha, 1, STREAM_KEY, *args)  # type: ignore[misc]
        except NoScriptError:  # nothing ran
            self._sha = str(await self._client.script_load(APPEND_SCRIPT))
            return await self._client.evalsha(self._sha, 1, STREAM_KEY, *args)  # type: ignore[misc]

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
