"""Jobs and the outbox in-process: same-transaction writes, relay, sweep, the task wrapper."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from domain.jobs import outbox
from domain.jobs import service as jobs
from domain.jobs.models import Job, OutboxMessage
from domain.shared import db
from domain.shared.db import get_sessionmaker, unit_of_work, utcnow
from domain.shared.locks import try_xact_lock
from domain.shared.settings import get_settings
from tests.support import tasks
from tests.support.jobs import effects, load_job
from tests.support.tenancy import assert_isolated
from workers import publisher
from workers.tasks import jobs as job_tasks


@pytest.fixture
def sent() -> Iterator[list[outbox.OutgoingMessage]]:
    """Capture what the relay publishes instead of sending it to the broker."""
    captured: list[outbox.OutgoingMessage] = []
    outbox.set_publisher(captured.append)
    yield captured
    publisher.install()


@pytest.fixture
def broker_down() -> Iterator[None]:
    """A publisher that fails like an unreachable broker."""

    def refuse(message: outbox.OutgoingMessage) -> None:
        raise ConnectionError("broker unreachable")

    outbox.set_publisher(refuse)
    yield
    publisher.install()


def _enqueue(account_id: uuid.UUID, **arguments: Any) -> uuid.UUID:
    with unit_of_work() as session:
        return jobs.enqueue(
            session, account_id=account_id, task="testing.record", arguments=arguments
        ).id


def _messages(job_id: uuid.UUID) -> list[OutboxMessage]:
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.job_id == job_id)
                .order_by(OutboxMessage.created_at)
            )
        )


def test_job_and_message_are_written_with_the_change_and_relayed_after_commit(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id, n=1)
    assert [m.kwargs for m in sent] == [{"job_id": str(job_id), "n": 1}]
    assert sent[0].queue == "default"
    [message] = _messages(job_id)
    assert message.published_at is not None
    assert load_job(job_id).status == "queued"


def test_a_rolled_back_transaction_enqueues_nothing(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    created: list[uuid.UUID] = []

    def change_that_fails() -> None:
        with unit_of_work() as session:
            created.append(
                jobs.enqueue(session, account_id=tenant.account_id, task="testing.record").id
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    [job_id] = created
    assert sent == []
    with unit_of_work() as session:
        assert session.get(Job, job_id) is None


def test_broker_down_at_commit_loses_nothing_and_the_sweep_sends_it(
    tenant: Any, sent: list[outbox.OutgoingMessage], broker_down: None
) -> None:
    job_id = _enqueue(tenant.account_id)
    [message] = _messages(job_id)
    assert message.published_at is None
    outbox.set_publisher(sent.append)
    with unit_of_work() as session:
        assert outbox.relay_due(session, now=utcnow(), grace_seconds=0) >= 1
    assert str(job_id) in [m.kwargs["job_id"] for m in sent]
    assert _messages(job_id)[0].published_at is not None


def test_task_runs_once_and_records_its_result(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id)
    tasks.record.apply(kwargs={"job_id": str(job_id)})
    tasks.record.apply(kwargs={"job_id": str(job_id)})  # a duplicate delivery
    job = load_job(job_id)
    assert (job.status, job.attempts, job.result) == (
        "succeeded",
        1,
        {"recorded": True, "attempt": 1},
    )
    assert job.finished_at is not None
    assert effects(job_id) == 1


def test_a_job_locked_by_another_worker_is_left_alone(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id)
    holder = get_sessionmaker()()
    try:
        assert jobs.lock_for_run(holder, job_id) is not None
        # apply() stores a task's exception instead of raising it: a crashed wrapper would
        # also leave the job alone, so the run must have ended cleanly, having done nothing.
        result = tasks.record.apply(kwargs={"job_id": str(job_id)})
        assert result.successful(), result.traceback
        assert effects(job_id) == 0
        job = load_job(job_id)
        assert (job.status, job.attempts) == ("queued", 0)
    finally:
        holder.rollback()
        holder.close()
    # Once the other worker let go, the same delivery runs the work.
    assert tasks.record.apply(kwargs={"job_id": str(job_id)}).successful()
    assert effects(job_id) == 1


def test_retryable_failures_back_off_then_succeed(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id, fail="retryable", succeed_on=3)
    tasks.record.apply(kwargs={"job_id": str(job_id)})  # eager mode runs the retries in place
    job = load_job(job_id)
    assert (job.status, job.attempts) == ("succeeded", 3)
    assert effects(job_id) == 1  # failed attempts were rolled back with their effects


def test_final_failure_marks_the_job_failed(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id, fail="final")
    tasks.record.apply(kwargs={"job_id": str(job_id)})
    job = load_job(job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "400" in (job.error or "")
    assert effects(job_id) == 0


def test_attempts_run_out(tenant: Any, sent: list[outbox.OutgoingMessage]) -> None:
    with unit_of_work() as session:
        job_id = jobs.enqueue(
            session,
            account_id=tenant.account_id,
            task="testing.record",
            arguments={"fail": "retryable"},
            max_attempts=2,
        ).id
    tasks.record.apply(kwargs={"job_id": str(job_id)})
    job = load_job(job_id)
    assert (job.status, job.attempts) == ("failed", 2)
    assert "gave up after 2 attempts" in (job.error or "")


def test_waits_longer_than_the_broker_holds_become_due_dated_rows(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id, fail="retryable", retry_after=7200)
    sent.clear()
    tasks.record.apply(kwargs={"job_id": str(job_id)})
    job = load_job(job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    _first, retry = _messages(job_id)
    assert retry.published_at is None
    assert retry.available_at - utcnow() > timedelta(hours=1, minutes=59)
    assert sent == []  # nothing waits in the broker for two hours
    with unit_of_work() as session:
        outbox.relay_due(session, now=utcnow(), grace_seconds=0)
    assert sent == []
    with unit_of_work() as session:
        outbox.relay_due(session, now=utcnow() + timedelta(hours=2, seconds=1), grace_seconds=0)
    assert [m.id for m in sent] == [retry.id]


def test_sweep_requeues_jobs_whose_message_was_lost(
    tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id)
    sent.clear()
    later = utcnow() + timedelta(hours=1)
    with unit_of_work() as session:
        assert jobs.requeue_stale(session, now=later, stale_after_seconds=600) >= 1
    assert str(job_id) in [m.kwargs["job_id"] for m in sent]
    # The job itself now looks fresh: the next sweep leaves it alone.
    count = len(_messages(job_id))
    with unit_of_work() as session:
        jobs.requeue_stale(session, now=later, stale_after_seconds=600)
    assert len(_messages(job_id)) == count


def test_sweep_skips_when_another_run_holds_its_lock(sent: list[outbox.OutgoingMessage]) -> None:
    holder = get_sessionmaker()()
    try:
        assert try_xact_lock(holder, "jobs.sweep_outbox")
        assert job_tasks.sweep_outbox() == {"skipped": 1}
    finally:
        holder.rollback()
        holder.close()
    assert "published" in job_tasks.sweep_outbox()


def test_jobs_endpoint_shows_state_and_isolates_accounts(
    client: Any, tenant: Any, other_tenant: Any, sent: list[outbox.OutgoingMessage]
) -> None:
    job_id = _enqueue(tenant.account_id)
    tasks.record.apply(kwargs={"job_id": str(job_id)})
    path = f"/api/v1/jobs/{job_id}"
    body = client.get(path, headers=tenant.headers).json()
    assert body["status"] == "succeeded"
    assert body["result"] == {"recorded": True, "attempt": 1}
    assert set(body) >= {"id", "status", "result", "error", "attempts", "created_at", "updated_at"}
    assert_isolated(
        client,
        other_tenant.headers,
        [("GET", path, None)],
        snapshot=lambda: client.get(path, headers=tenant.headers).json(),
    )


def test_relaying_after_commit_needs_no_second_connection(
    tenant: Any, sent: list[outbox.OutgoingMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every pooled connection busy, a commit that queues work still finishes at once.

    The relay marks what it sent only after the session gave its connection back; taking a
    second one while holding the first deadlocked loaded APIs until the pool timed out.
    """
    one = create_engine(get_settings().sqlalchemy_url, pool_size=1, max_overflow=0, pool_timeout=2)
    monkeypatch.setattr(db, "_engine", one)
    monkeypatch.setattr(db, "_sessionmaker", sessionmaker(one, expire_on_commit=False))
    try:
        job_id = _enqueue(tenant.account_id)
        assert [m.kwargs["job_id"] for m in sent] == [str(job_id)]
        assert _messages(job_id)[0].published_at is not None
    finally:
        one.dispose()
