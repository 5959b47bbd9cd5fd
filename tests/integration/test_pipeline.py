"""The job pipeline end to end with a real Celery worker process.

The API (or a service) commits work, the relay publishes it, a worker runs it; and nothing
is lost when the broker is down at commit time or a worker process dies mid-task.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from devtools.embedded import RedisServer
from domain.jobs import service as jobs
from domain.jobs.models import OutboxMessage
from domain.shared.db import unit_of_work
from tests.support.jobs import effects, load_job
from tests.support.worker import CeleryWorker
from workers import publisher
from workers.celery_app import create_celery
from workers.tasks.jobs import sweep_outbox

pytestmark = pytest.mark.pipeline


def _wait_for(predicate: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_api_work_is_run_by_a_worker_and_polled_to_its_result(
    client: Any, tenant: Any, worker: CeleryWorker
) -> None:
    r = client.post("/api/v1/_probe/charges", json={"amount_cents": 700}, headers=tenant.headers)
    assert r.status_code == 202
    location = r.headers["Location"]

    def done() -> bool:
        return bool(client.get(location, headers=tenant.headers).json()["status"] == "succeeded")

    _wait_for(done, what="the job to succeed")
    body = client.get(location, headers=tenant.headers).json()
    assert body["result"] == {"recorded": True, "attempt": 1}
    assert effects(uuid.UUID(body["id"])) == 1


def test_broker_down_at_commit_then_restarted_runs_the_work_exactly_once(tenant: Any) -> None:
    # A Redis of this test's own: stopping the suite's would disturb other tests.
    redis_dir = tempfile.mkdtemp(prefix="frb", dir="/tmp")
    redis = RedisServer(Path(redis_dir))
    url = redis.start()
    app = create_celery(url)
    own_worker = CeleryWorker({**os.environ, "REDIS_URL": url}, name="outage")
    own_worker.start()
    try:
        redis.stop()
        publisher.install(app)
        started = time.monotonic()
        with unit_of_work() as session:
            job_id = jobs.enqueue(session, account_id=tenant.account_id, task="testing.record").id
        assert time.monotonic() - started < 10  # the request did not hang on the dead broker
        with unit_of_work() as session:
            message = session.scalar(select(OutboxMessage).where(OutboxMessage.job_id == job_id))
            assert message is not None
            assert message.published_at is None  # committed, kept, not yet sent
        assert load_job(job_id).status == "queued"

        redis.restart()
        # What beat does every few seconds: the sweep publishes what the relay could not.
        assert sweep_outbox()["published"] >= 1
        _wait_for(lambda: load_job(job_id).status == "succeeded", what="the job to succeed")
        # A duplicate delivery (e.g. the sweep and the relay both sent it) changes nothing:
        # once the worker has run both duplicates, the work still took effect once.
        duplicates = [
            app.send_task("testing.record", kwargs={"job_id": str(job_id)}, queue="default").id
            for _ in range(2)
        ]
        for task_id in duplicates:
            own_worker.wait_until_ran(task_id)
        assert effects(job_id) == 1
        assert load_job(job_id).attempts == 1
    finally:
        publisher.install()
        own_worker.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


def test_a_worker_process_killed_mid_task_loses_nothing(
    tenant: Any, worker: CeleryWorker, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    with unit_of_work() as session:
        job_id = jobs.enqueue(
            session,
            account_id=tenant.account_id,
            task="testing.record",
            arguments={"sleep": 30, "pid_file": str(pid_file)},
        ).id
    _wait_for(pid_file.exists, what="the task to start")
    pid = int(pid_file.read_text())
    assert pid in worker.child_pids()
    os.kill(pid, signal.SIGKILL)  # the pool process dies mid-task, its transaction with it

    _wait_for(
        lambda: load_job(job_id).status == "succeeded", timeout=90, what="the re-delivered job"
    )
    job = load_job(job_id)
    assert job.attempts == 2
    assert effects(job_id) == 1  # the killed attempt's writes never committed
