"""The feed through a real Celery worker: woken after commit, a consumer killed mid-batch, a
broker crash; every event takes effect once per consumer."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from devtools.embedded import RedisServer
from domain.events.feed import DRAIN_TASK
from domain.shared.db import unit_of_work
from tests.support.feed import (
    WORKER_CONSUMERS,
    create_effects_table,
    effects,
    forget_cursors,
    record_fed,
    start_cursors,
)
from tests.support.worker import CeleryWorker
from workers import publisher
from workers.celery_app import create_celery

pytestmark = pytest.mark.pipeline

A, B = WORKER_CONSUMERS


def _wait_for(
    predicate: Callable[[], bool], what: str, worker: CeleryWorker, timeout: float = 60
) -> None:
    """Poll predicate until it holds, or fail naming what was awaited (with the worker's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    log = worker.log.read_text(errors="replace")[-6000:]
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log}")


@pytest.fixture
def own_broker() -> Iterator[tuple[RedisServer, Celery, CeleryWorker]]:
    """A Redis of this test's own (it is crashed), a worker running the suite's consumers
    on it, and this process's after-commit wakes going there."""
    create_effects_table()
    start_cursors(WORKER_CONSUMERS)
    redis_dir = tempfile.mkdtemp(prefix="fev", dir="/tmp")
    redis = RedisServer(Path(redis_dir))
    url = redis.start()
    worker = CeleryWorker(
        {**os.environ, "REDIS_URL": url},
        name="feed",
        include=("tests.support.tasks", "tests.support.feed_consumers"),
    )
    app = create_celery(url)
    try:
        worker.start()
        publisher.install(app)
        yield redis, app, worker
    finally:
        publisher.install()
        worker.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)
        forget_cursors(WORKER_CONSUMERS)


def _idle(app: Celery) -> bool:
    """Whether the worker answers and has no task running or reserved."""
    inspector = app.control.inspect(timeout=1.0, limit=1)
    active, reserved = inspector.active() or {}, inspector.reserved() or {}
    return bool(active) and not any(active.values()) and not any(reserved.values())


def _once(consumer: str, ids: list[int]) -> Callable[[], bool]:
    """Whether each event has taken effect exactly once for consumer."""
    return lambda: effects(consumer, ids) == dict.fromkeys(ids, 1)


def test_every_event_reaches_each_consumer_once_across_a_kill_and_a_broker_crash(
    tenant: Any, own_broker: tuple[RedisServer, Celery, CeleryWorker], tmp_path: Path
) -> None:
    redis, app, worker = own_broker
    hold = tmp_path / "held.pid"
    # Consumers read 5 events a batch; consumer A stops at the 8th (its second batch) until
    # this test kills it.
    with unit_of_work() as session:
        first = [
            record_fed(
                session,
                tenant.account_id,
                seq,
                **({"hold_file": str(hold), "hold_consumer": A} if seq == 7 else {}),
            ).id
            for seq in range(12)
        ]
    _wait_for(hold.exists, "consumer A to reach the held event (woken after commit)", worker)
    pid = int(hold.read_text())
    assert pid in worker.child_pids()
    # While A holds its cursor, another run skips A and B goes on alone.
    app.send_task(DRAIN_TASK, queue="default")
    _wait_for(_once(B, first), "consumer B to take every event", worker)
    assert effects(A, first) == {i: int(n < 5) for n, i in enumerate(first)}  # batch 1 only

    os.kill(pid, signal.SIGKILL)  # mid-batch: its effects for events 5 and 6 die uncommitted
    _wait_for(_once(A, first), "consumer A to take the rest after the kill", worker)

    # Between tasks: a Redis connection lost while an acks_late task runs makes the worker
    # itself exit (kombu 5.7 "Unrecoverable error ... 'hostname'" restoring the unacked
    # message); the worker's supervisor restarts it then, which is not what this test is about.
    _wait_for(lambda: _idle(app), "the worker to finish its tasks", worker)
    redis.kill()  # the broker crashes: wakes published now are lost
    with unit_of_work() as session:
        second = [record_fed(session, tenant.account_id, 100 + seq).id for seq in range(6)]
    redis.start()
    app.send_task(DRAIN_TASK, queue="default")  # what beat does every few seconds
    _wait_for(lambda: _once(A, second)() and _once(B, second)(), "both after the restart", worker)

    everything = [*first, *second]
    assert effects(A, everything) == dict.fromkeys(everything, 1)
    assert effects(B, everything) == dict.fromkeys(everything, 1)
