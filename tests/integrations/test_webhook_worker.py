"""Deliveries through a real Celery worker: one killed mid-attempt, Redis restarted with and
without its data; every event delivered, once, with a stable webhook-id.

The worker is this module's own, on a Redis of its own (it is restarted), with quick
retries and a 2 s attempt timeout; this process publishes there while the module runs.
"""

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
from domain.integrations.webhooks.task_names import DISPATCH
from tests.support.webhook_receiver import Receiver
from tests.support.webhooks import (
    attempts_of,
    contact_ids_in,
    deliveries_of,
    record_contact_created,
    subscribe,
)
from tests.support.worker import CeleryWorker
from workers import publisher
from workers.celery_app import create_celery

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def own_worker(app: Any) -> Iterator[tuple[RedisServer, Celery, CeleryWorker]]:
    """Redis, a worker on it, and this process's wakes going there (`app` installs first)."""
    redis_dir = tempfile.mkdtemp(prefix="fwh", dir="/tmp")
    redis = RedisServer(Path(redis_dir))
    url = redis.start()
    env = {
        **os.environ,
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "ALLOW_PRIVATE_WEBHOOK_URLS": "true",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "RETRY_SCHEDULE_WEBHOOKS": "0.5s,1s,1s,1s,1s,1s,1s",
    }
    worker = CeleryWorker(env, name="webhooks")
    celery = create_celery(url)
    try:
        worker.start()
        publisher.install(celery)
        yield redis, celery, worker
    finally:
        publisher.install()
        worker.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local receiver URLs may be saved in this process too."""
    from domain.shared.settings import get_settings

    monkeypatch.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _beat(celery: Celery) -> None:
    """What beat does every few seconds: run the consumers and the dispatcher."""
    celery.send_task(DRAIN_TASK, queue="default")
    celery.send_task(DISPATCH, queue="webhooks")


def _wait_for(
    check: Callable[[], bool], what: str, worker: CeleryWorker, beat: Celery | None = None
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check():
            return
        if beat is not None:
            _beat(beat)
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.log.read_text()[-4000:]}")


def _all_delivered(webhook_id: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = deliveries_of(webhook_id)
        return len(rows) == count and all(d.status == "succeeded" for d in rows)

    return check


@pytest.mark.usefixtures("allow_private")
def test_a_worker_killed_mid_attempt_delivers_with_the_same_webhook_id(
    client: Any, tenant: Any, receiver: Receiver, own_worker: Any
) -> None:
    _, celery, worker = own_worker
    endpoint = subscribe(client, tenant.headers, f"http://127.0.0.1:{receiver.port}/hook")
    receiver.delay = 10.0  # the first attempt hangs (longer than the 2 s timeout)
    record_contact_created(tenant.account_id)  # woken after commit: no beat needed
    _wait_for(lambda: len(receiver.requests) == 1, "the first attempt to arrive", worker)
    for pid in worker.child_pids():
        os.kill(pid, signal.SIGKILL)  # mid-attempt: nothing about it was recorded
    receiver.delay = 0.0
    # The claim's lease (twice the timeout + 5 s) runs out, and a sweep sends it again.
    _wait_for(_all_delivered(endpoint["id"], 1), "the delivery", worker, beat=celery)
    [delivery] = deliveries_of(endpoint["id"])
    first, *rest = receiver.requests
    assert [r.headers["webhook-id"] for r in rest] == [first.headers["webhook-id"]]
    assert first.headers["webhook-id"] == f"msg_{delivery.id.hex}"
    assert [a.status_code for a in attempts_of(delivery.id)] == [200]  # the killed try left none


@pytest.mark.parametrize("keep_data", [True, False], ids=["with-data", "without-data"])
@pytest.mark.usefixtures("allow_private")
def test_redis_restarted_mid_run_loses_nothing(
    client: Any, tenant: Any, receiver: Receiver, own_worker: Any, keep_data: bool
) -> None:
    redis, celery, worker = own_worker
    endpoint = subscribe(client, tenant.headers, f"http://127.0.0.1:{receiver.port}/hook")
    receiver.status = 503  # retries are due in the database when Redis goes
    before = [str(record_contact_created(tenant.account_id)) for _ in range(5)]
    _wait_for(lambda: len(receiver.requests) >= 5, "first attempts", worker)
    time.sleep(0.5)  # between tasks (see tests/events/test_pipeline.py on kombu)
    redis.stop()
    if not keep_data:
        for leftover in redis.data_dir.iterdir():
            if leftover.is_file() and leftover.name != "redis.conf":
                leftover.unlink()
    during = [str(record_contact_created(tenant.account_id)) for _ in range(5)]  # wakes lost
    redis.start()
    receiver.status = 200
    after = [str(record_contact_created(tenant.account_id)) for _ in range(5)]
    everything = before + during + after
    _wait_for(_all_delivered(endpoint["id"], 15), "every delivery", worker, beat=celery)
    delivered = [r for r in receiver.requests if r.headers.get("webhook-id")]
    ok_bodies = {r.body for r in delivered} & {
        d.body.encode() for d in deliveries_of(endpoint["id"])
    }
    assert sorted(set(contact_ids_in(list(ok_bodies)))) == sorted(everything)
    assert worker.process is not None
    assert worker.process.poll() is None
