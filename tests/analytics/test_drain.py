"""The drain in-process against the session's Redis and PostgreSQL: stored once, whatever
happens between the read and the acknowledgement."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from beat_schedule import BEAT_SCHEDULE
from devtools.embedded import free_port
from domain.analytics import drain, store, stream
from domain.analytics.task_names import DRAIN
from domain.jobs.queues import queue_for
from domain.shared.db import unit_of_work, utcnow
from domain.shared.settings import get_settings
from tests.support.drain import event, make_funnel, ordinals, send, stored
from workers.tasks.analytics import drain as drain_task


@pytest.fixture
def r() -> redis.Redis:
    """The drain's client, the stream drained of whatever earlier tests left."""
    client = drain.client()
    drain.ensure_group(client)
    drain.run(client, "test-cleaner", seconds=30)
    return client


def _drain(r: redis.Redis, consumer: str = "test-drain") -> drain.RunResult:
    result = drain.run(r, consumer, seconds=30)
    assert result.caught_up
    return result


def test_events_are_stored_once_with_dense_visitor_ordinals(r: redis.Redis, tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    send(r, tenant.account_id, [event(funnel, f"e{i}", f"v{i % 3}") for i in range(5)])
    twice = event(funnel, "e5", "v9")
    send(r, tenant.account_id, [twice, twice])
    result = _drain(r)

    assert result.stored == store.Stored(inserted=6, duplicates=1)
    assert stored(tenant.account_id) == {f"e{i}": 1 for i in range(6)}
    assert sorted(ordinals(tenant.account_id).values()) == [0, 1, 2, 3]
    # The stream keeps only what is not stored: nothing, and nothing pending.
    assert r.xlen(stream.STREAM_KEY) == 0
    assert r.xpending(stream.STREAM_KEY, stream.GROUP)["pending"] == 0


def test_a_resent_event_is_stored_once(r: redis.Redis, tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    same = event(funnel, "resent", "v1")
    send(r, tenant.account_id, [same])
    _drain(r)
    send(r, tenant.account_id, [same, event(funnel, "fresh", "v1")])
    assert _drain(r).stored == store.Stored(inserted=1, duplicates=1)
    assert stored(tenant.account_id) == {"resent": 1, "fresh": 1}
    assert list(ordinals(tenant.account_id).values()) == [0]


def test_an_event_of_another_accounts_funnel_is_never_stored(
    r: redis.Redis, tenant: Any, other_tenant: Any
) -> None:
    mine, theirs = make_funnel(tenant.account_id), make_funnel(other_tenant.account_id)
    send(
        r,
        tenant.account_id,
        [
            event(mine, "ok"),
            event(theirs, "foreign"),
            event(uuid.uuid4(), "unknown-funnel"),
            {**event(mine, "bad-funnel-id"), "funnel_id": "not-a-uuid"},
        ],
    )
    assert _drain(r).stored == store.Stored(inserted=1, dropped=3)
    assert stored(tenant.account_id) == {"ok": 1}
    assert stored(other_tenant.account_id) == {}


def test_entries_a_dead_consumer_left_pending_are_claimed_and_stored_once(
    r: redis.Redis, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    funnel = make_funnel(tenant.account_id)
    send(r, tenant.account_id, [event(funnel, "a"), event(funnel, "b")])
    # A consumer reads the entry and dies before storing it ...
    r.xreadgroup(stream.GROUP, "dead-before-commit", {stream.STREAM_KEY: ">"}, 10)
    send(r, tenant.account_id, [event(funnel, "c")])
    # ... another reads, commits and dies before its acknowledgement.
    entries = r.xreadgroup(stream.GROUP, "dead-after-commit", {stream.STREAM_KEY: ">"}, 10)
    with unit_of_work() as session:
        store.store(session, drain._decode(entries[0][1]))
    assert r.xpending(stream.STREAM_KEY, stream.GROUP)["pending"] == 2

    # Not idle long enough yet: a live consumer's entries are left to it.
    assert _drain(r, "survivor").entries == 0
    assert stored(tenant.account_id) == {"c": 1}
    monkeypatch.setattr(get_settings(), "analytics_drain_claim_idle_seconds", 0.001)
    result = _drain(r, "survivor")

    assert result.entries == 2
    assert result.stored == store.Stored(inserted=2, duplicates=1)
    assert stored(tenant.account_id) == {"a": 1, "b": 1, "c": 1}
    assert r.xpending(stream.STREAM_KEY, stream.GROUP)["pending"] == 0


def test_a_lost_group_is_created_again_and_nothing_loops(r: redis.Redis, tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    # Redis restarted without its data: no stream, no group.
    r.delete(stream.STREAM_KEY)
    assert _drain(r).entries == 0
    assert r.xinfo_groups(stream.STREAM_KEY)[0]["name"] == stream.GROUP
    # The API appended after a data loss (XADD makes the stream, not the group).
    r.delete(stream.STREAM_KEY)
    send(r, tenant.account_id, [event(funnel, "after-loss")])
    assert _drain(r).stored.inserted == 1
    assert stored(tenant.account_id) == {"after-loss": 1}


def test_a_bad_entry_is_dead_lettered_and_the_rest_of_its_batch_stored(
    r: redis.Redis, tenant: Any
) -> None:
    funnel = make_funnel(tenant.account_id)
    r.delete(drain.DEAD_LETTER_KEY)
    send(r, tenant.account_id, [event(funnel, "before")])
    bad = send(r, tenant.account_id, [{**event(funnel, "bad-time"), "occurred_at": "no time"}])
    r.xadd(stream.STREAM_KEY, {"account_id": "nonsense", "events": "[]", "received_at": "x"})
    r.xadd(stream.STREAM_KEY, {"account_id": str(tenant.account_id)})  # no events at all
    send(r, tenant.account_id, [event(funnel, "after")])
    _drain(r)

    assert stored(tenant.account_id) == {"before": 1, "after": 1}
    dead = r.xrange(drain.DEAD_LETTER_KEY)
    assert [fields["entry_id"] for _, fields in dead][:1] == [bad]
    assert len(dead) == 3
    assert r.xlen(stream.STREAM_KEY) == 0


def test_concurrent_batches_number_new_visitors_without_collisions(tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def batch(n: int) -> None:
        events = [event(funnel, f"t{n}-{i}", f"t{n}-v{i}") for i in range(50)]
        # Every batch shares some visitors too.
        events += [event(funnel, f"t{n}-shared{i}", f"shared{i}") for i in range(10)]
        start.wait()
        try:
            with unit_of_work() as session:
                store.store(session, [store.Entry.of(tenant.account_id, utcnow(), events)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=batch, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = ordinals(tenant.account_id)
    assert len(numbers) == 4 * 50 + 10
    assert sorted(numbers.values()) == list(range(4 * 50 + 10))
    assert len(stored(tenant.account_id)) == 4 * 60


def _gauges(client: Any) -> dict[str, float]:
    """The analytics stream's gauges in a /metrics scrape."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
        if sample.name.startswith(("funnels_analytics_stream_", "funnels_analytics_ingest_"))
        or (
            sample.name == "funnels_metrics_source_up"
            and sample.labels["source"] == "analytics_stream"
        )
    }


def test_metrics_show_the_backlog_until_it_is_drained(
    r: redis.Redis, client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    funnel = make_funnel(tenant.account_id)
    first = send(r, tenant.account_id, [event(funnel, "m1")], at=utcnow())
    send(r, tenant.account_id, [event(funnel, "m2")])
    r.xreadgroup(stream.GROUP, "metrics-reader", {stream.STREAM_KEY: ">"}, 1)
    # The oldest entry's age comes from its id (Redis' clock at XADD).
    time.sleep(0.05)
    gauges = _gauges(client)
    assert gauges["funnels_analytics_stream_entries"] == 2  # stored entries are deleted
    assert gauges["funnels_analytics_stream_pending"] == 1
    added = int(first.split("-")[0]) / 1000
    assert 0 < gauges["funnels_analytics_ingest_lag_seconds"] <= time.time() - added + 1
    assert gauges["funnels_metrics_source_up"] == 1

    monkeypatch.setattr(get_settings(), "analytics_drain_claim_idle_seconds", 0.001)
    _drain(r)
    assert _gauges(client) == {
        "funnels_analytics_stream_entries": 0,
        "funnels_analytics_stream_pending": 0,
        "funnels_analytics_ingest_lag_seconds": 0,
        "funnels_metrics_source_up": 1,
    }


def test_two_batches_in_one_transaction_are_counted_apart(tenant: Any) -> None:
    funnel = make_funnel(tenant.account_id)
    with unit_of_work() as session:
        first = store.store(
            session, [store.Entry.of(tenant.account_id, utcnow(), [event(funnel, "x1")])]
        )
        second = store.store(
            session, [store.Entry.of(tenant.account_id, utcnow(), [event(funnel, "x2")])]
        )
    assert first == second == store.Stored(inserted=1)
    assert stored(tenant.account_id) == {"x1": 1, "x2": 1}


def test_a_run_takes_its_own_unacknowledged_entries_again_at_once(
    r: redis.Redis, tenant: Any
) -> None:
    funnel = make_funnel(tenant.account_id)
    send(r, tenant.account_id, [event(funnel, "own")])
    # An earlier run of this process read the entry and failed (the database was down).
    r.xreadgroup(stream.GROUP, "this-process", {stream.STREAM_KEY: ">"}, 10)
    assert _drain(r, "another-process").entries == 0  # not idle long enough to be claimed
    assert _drain(r, "this-process").stored.inserted == 1
    assert stored(tenant.account_id) == {"own": 1}
    assert r.xpending(stream.STREAM_KEY, stream.GROUP)["pending"] == 0


def test_beat_runs_the_drain_task_every_second_on_the_analytics_queue(
    r: redis.Redis, tenant: Any
) -> None:
    assert BEAT_SCHEDULE["analytics-drain"]["task"] == DRAIN
    assert BEAT_SCHEDULE["analytics-drain"]["schedule"] == 1.0
    assert queue_for(DRAIN) == "analytics"
    funnel = make_funnel(tenant.account_id)
    send(r, tenant.account_id, [event(funnel, "by-task")])
    result = drain_task.apply()
    assert result.successful(), result.traceback
    assert result.result["inserted"] == 1
    assert result.result["caught_up"] is True
    assert stored(tenant.account_id) == {"by-task": 1}


def test_the_drain_task_ends_quietly_while_redis_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.5, decode_responses=True)
    monkeypatch.setattr(drain, "client", lambda: down)
    result = drain_task.apply()
    assert result.successful(), result.traceback
    assert result.result == {"error": "redis unavailable"}
