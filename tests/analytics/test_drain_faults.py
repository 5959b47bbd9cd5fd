"""100,000 events through real drain workers while one is SIGKILLed mid-batch and the
stream's Redis crashes: afterwards every accepted event is stored exactly once.

The stream lives in a Redis of this test's own (appendfsync always, as compose and
`./dev up` run it), which it kills (SIGKILL) and starts again. The Celery broker is another
Redis, left running: with celery/kombu 5.7 a worker whose broker connection drops while an
acks_late task runs exits (docs/events.md), and a drain task is nearly always running under
load; that is the worker supervisor's business, not the stream's durability, which is what
this test is about.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from devtools.embedded import RedisServer
from domain.analytics import stream
from domain.analytics.models import AnalyticsEvent, AnalyticsVisitor
from domain.analytics.task_names import DRAIN
from domain.shared.db import unit_of_work, utcnow
from tests.support.drain import event, make_funnel
from tests.support.worker import CeleryWorker
from workers.celery_app import create_celery

pytestmark = pytest.mark.pipeline

TOTAL, PER_ENTRY, VISITORS = 100_000, 500, 5000


def _wait_for(
    check: Callable[[], Any], what: str, worker: CeleryWorker, timeout: float = 60
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.log.read_text()[-6000:]}")


@pytest.fixture
def drain_worker() -> Iterator[tuple[RedisServer, Celery, CeleryWorker]]:
    """The stream's Redis, the broker's, and a worker draining one into PostgreSQL."""
    dirs = [tempfile.mkdtemp(prefix=p, dir="/tmp") for p in ("fas", "fab")]
    streams = RedisServer(Path(dirs[0]), appendfsync="always")
    broker = RedisServer(Path(dirs[1]))
    env = {
        **os.environ,
        "REDIS_URL": streams.start(),
        "CELERY_BROKER_URL": broker.start(),
        "ANALYTICS_DRAIN_CLAIM_IDLE_SECONDS": "2",
        "ANALYTICS_DRAIN_RUN_SECONDS": "5",
        "ANALYTICS_DRAIN_BATCH_EVENTS": "2000",
    }
    worker = CeleryWorker(env, name="drain")
    try:
        worker.start()
        yield streams, create_celery(env["CELERY_BROKER_URL"]), worker
    finally:
        worker.stop()
        streams.stop()
        broker.stop()
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)


class Beat:
    """Sends analytics.drain every half second, as beat does every second."""

    def __init__(self, app: Celery) -> None:
        self.app, self.stopped = app, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopped.wait(0.5):
            self.app.send_task(DRAIN, queue="analytics", expires=5)

    def __enter__(self) -> Beat:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stopped.set()
        self.thread.join()


def _append(r: redis.Redis, entry: dict[str, str]) -> None:
    """XADD until Redis says it has it (the API answers 202 only then; a client resends)."""
    while True:
        try:
            r.xadd(stream.STREAM_KEY, entry)  # type: ignore[arg-type]
            return
        except redis.ConnectionError:
            time.sleep(0.05)


class Producer:
    """Sends the TOTAL events in entries of PER_ENTRY, paced over a few seconds, as the API
    appends them (on a thread, so the faults happen while events are being sent)."""

    def __init__(self, r: redis.Redis, account: uuid.UUID, funnel: uuid.UUID) -> None:
        self.r, self.account, self.funnel = r, account, funnel
        self.sent = 0
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        for start in range(0, TOTAL, PER_ENTRY):
            events = [
                event(self.funnel, f"ev{n}", f"vis{n % VISITORS}")
                for n in range(start, start + PER_ENTRY)
            ]
            _append(self.r, stream.encode_entry(self.account, events, utcnow()))
            self.sent += PER_ENTRY
            time.sleep(0.02)

    def done(self) -> bool:
        """Whether every event was accepted."""
        return not self.thread.is_alive()


def _counts(account: uuid.UUID) -> tuple[int, int, int]:
    """(rows, distinct event ids, visitors) of the account."""
    with unit_of_work() as session:
        rows, distinct = session.execute(
            select(func.count(), func.count(AnalyticsEvent.event_id.distinct())).where(
                AnalyticsEvent.account_id == account
            )
        ).one()
        visitors = session.scalar(
            select(func.count()).where(AnalyticsVisitor.account_id == account)
        )
        return rows, distinct, visitors or 0


def _kill_mid_batch(r: redis.Redis, worker: CeleryWorker) -> int:
    """SIGKILL a pool process while entries it read are not acknowledged; its pid."""
    host = socket.gethostname()

    def holding() -> int | None:
        pending = {c["name"]: c["pending"] for c in r.xinfo_consumers(stream.STREAM_KEY, "drain")}
        for pid in worker.child_pids():
            if pending.get(f"{host}-{pid}"):
                os.kill(pid, signal.SIGKILL)
                # Killed before its acknowledgement: the entries stay pending in its name.
                left = {
                    c["name"]: c["pending"] for c in r.xinfo_consumers(stream.STREAM_KEY, "drain")
                }
                return pid if left.get(f"{host}-{pid}") else None
        return None

    pid: int = _wait_for(holding, "a pool process holding unacknowledged entries", worker)
    return pid


def test_every_accepted_event_is_stored_once_across_a_kill_and_a_redis_crash(
    tenant: Any, drain_worker: tuple[RedisServer, Celery, CeleryWorker]
) -> None:
    streams, app, worker = drain_worker
    funnel = make_funnel(tenant.account_id)
    r = redis.Redis.from_url(streams.url, decode_responses=True, socket_timeout=5)
    account = tenant.account_id
    producer = Producer(r, account, funnel)
    with Beat(app):
        producer.thread.start()
        _wait_for(lambda: _counts(account)[0] > 0, "the drain to store a first batch", worker)
        killed = _kill_mid_batch(r, worker)
        assert not producer.done()

        _wait_for(lambda: producer.sent >= TOTAL * 0.6, "60% of the events sent", worker)
        assert not producer.done()
        streams.kill()  # a crash; the producer retries until Redis is back
        restart = threading.Timer(1.0, streams.start)
        restart.start()
        restart.join()
        producer.thread.join(timeout=60)
        assert producer.done()

        _wait_for(lambda: _counts(account)[1] == TOTAL, "every event stored", worker, 60)
    rows, distinct, visitors = _counts(account)
    assert (rows, distinct, visitors) == (TOTAL, TOTAL, VISITORS)
    with unit_of_work() as session:
        numbers = session.scalars(
            select(AnalyticsVisitor.ordinal).where(AnalyticsVisitor.account_id == account)
        )
        assert sorted(numbers) == list(range(VISITORS))
    # The killed consumer's entries were taken over; nothing is left pending.
    assert r.xpending(stream.STREAM_KEY, stream.GROUP)["pending"] == 0
    assert f"{socket.gethostname()}-{killed}" not in {
        c["name"] for c in r.xinfo_consumers(stream.STREAM_KEY, stream.GROUP) if c["pending"]
    }
