"""The batching writer (shared flushes, lost scripts) and the ingest lag gauges, on real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from domain.analytics import metrics
from domain.analytics.stream import GROUP
from domain.analytics.writer import Append, StreamWriter, Window
from tests.analytics.conftest import StreamTail
from tests.support.aio import run_async


def _append(account_id: uuid.UUID, n: int, windows: list[Window] | None = None) -> Append:
    events = [{"event_id": f"e{n}", "type": "page_view"}]
    return Append(account_id, datetime.now(UTC), events, windows=windows or [])


def test_concurrent_requests_share_flushes_and_each_waits_for_its_entry(
    servers: Any, stream: StreamTail, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = uuid.uuid4()
    flushes: list[int] = []
    original = StreamWriter._execute

    async def counted(self: StreamWriter, args: list[str]) -> Any:
        flushes.append(len(args) // 2)
        return await original(self, args)

    monkeypatch.setattr(StreamWriter, "_execute", counted)

    async def send() -> list[Any]:
        writer = StreamWriter(servers.redis_url, timeout=2)
        try:
            return await asyncio.gather(
                *(writer.append(_append(account_id, i)) for i in range(200))
            )
        finally:
            await writer.close()

    results = run_async(send())
    ids = [result.entry_id for result in results]
    assert all(ids)
    assert len(set(ids)) == 200
    entries = stream.entries(account_id)
    assert sorted(e[2][0]["event_id"] for e in entries) == sorted(f"e{i}" for i in range(200))
    assert sum(flushes) == 200
    assert len(flushes) < 20  # shared: far fewer round trips than requests


def test_a_redis_that_forgot_the_script_still_takes_the_entry(
    servers: Any, stream: StreamTail
) -> None:
    account_id = uuid.uuid4()

    async def send() -> None:
        writer = StreamWriter(servers.redis_url, timeout=2)
        try:
            await writer.append(_append(account_id, 1))
            redis.Redis.from_url(servers.redis_url).script_flush()  # as a restart would
            await writer.append(_append(account_id, 2))
        finally:
            await writer.close()

    run_async(send())
    assert [e[2][0]["event_id"] for e in stream.entries(account_id)] == ["e1", "e2"]


def test_a_spent_window_appends_nothing_and_says_so(servers: Any, stream: StreamTail) -> None:
    account_id = uuid.uuid4()
    window = Window(key=f"LIMITS:test:{account_id}", limit=1, expiry=10)

    async def send() -> list[Any]:
        writer = StreamWriter(servers.redis_url, timeout=2)
        try:
            return [await writer.append(_append(account_id, i, [window])) for i in range(2)]
        finally:
            await writer.close()

    first, second = run_async(send())
    assert (first.entry_id is not None, first.windows[0][0]) == (True, 1)
    assert (second.entry_id, second.windows[0][0]) == (None, 2)
    assert 0 < second.windows[0][1] <= 10_000
    assert len(stream.entries(account_id)) == 1


# --- the lag gauges ----------------------------------------------------------------------------


@pytest.fixture
def own_stream(servers: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The gauges pointed at a stream of this test's own."""
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    key = f"analytics:test:{uuid.uuid4().hex}"
    monkeypatch.setattr(metrics, "STREAM_KEY", key)
    yield client
    client.delete(key)
    client.close()


def _now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()  # type: ignore[misc]
    return int(seconds) * 1000 + int(micros) // 1000


def test_lag_is_the_age_of_the_oldest_entry_not_yet_stored(own_stream: redis.Redis) -> None:
    client, key = own_stream, metrics.STREAM_KEY
    assert metrics.stream_state(client) == metrics.StreamState(0, 0, 0.0)
    now = _now_ms(client)
    client.xadd(key, {"n": "1"}, id=f"{now - 30_000}-0")
    client.xadd(key, {"n": "2"}, id=f"{now - 10_000}-0")
    state = metrics.stream_state(client)  # no drain group yet: everything waits
    assert (state.entries, state.pending) == (2, 0)
    assert 30 <= state.lag_seconds < 35
    client.xgroup_create(key, GROUP, id="0")
    client.xreadgroup(GROUP, "w1", {key: ">"}, count=1)  # the first delivered, not acked
    state = metrics.stream_state(client)
    assert state.pending == 1
    assert 30 <= state.lag_seconds < 35
    client.xack(key, GROUP, f"{now - 30_000}-0")  # stored: the second is the oldest waiting
    state = metrics.stream_state(client)
    assert state.pending == 0
    assert 10 <= state.lag_seconds < 15
    client.xreadgroup(GROUP, "w1", {key: ">"}, count=1)
    client.xack(key, GROUP, f"{now - 10_000}-0")
    assert metrics.stream_state(client).lag_seconds == 0.0


def test_metrics_show_the_ingest_gauges(client: Any) -> None:
    text = client.get("/metrics").text
    assert "funnels_analytics_ingest_lag_seconds " in text
    assert "funnels_analytics_stream_entries " in text
    assert "funnels_analytics_stream_pending " in text
    assert 'funnels_metrics_source_up{source="analytics_stream"} 1.0' in text
