"""Hours of retries in seconds: the beat sweeps and the job bodies run in this process, on a
clock the test moves.

freezegun would move only this process, not a worker, PostgreSQL or Redis, so nothing here
relies on them: `utcnow()` reads the injected clock (domain.shared.db.set_clock), the outbox
relay hands messages to this runner instead of a broker, and every wait is a due-dated
outbox row (CELERY_MAX_COUNTDOWN_SECONDS=0). The sweeps are narrowed to the test's
accounts, so other tests' rows are never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.jobs import outbox
from domain.jobs import service as jobs
from domain.jobs.models import Job, OutboxMessage
from domain.orders import service as orders
from domain.shared.db import set_clock, unit_of_work, utcnow
from domain.shared.settings import get_settings
from workers import publisher
from workers.celery_app import celery_app
from workers.tasks.base import JOB_TASKS, run_job


class SimulatedTime:
    """A clock, a broker and a beat for the given accounts, all in this process."""

    def __init__(self, account_ids: list[uuid.UUID]) -> None:
        self.account_ids = account_ids
        self.now = utcnow()
        self.sent: list[outbox.OutgoingMessage] = []
        self.ran: list[str] = []  # task names, in the order they ran

    def advance(self, **delta: float) -> None:
        """Move the clock by timedelta(**delta), running everything that falls due on the way."""
        end = self.now + timedelta(**delta)
        self.run_due()
        while (due := self._next_due()) is not None and due <= end:
            self.now = max(self.now, due)
            self.run_due()
        self.now = end
        self.run_due()

    def run_due(self) -> None:
        """What beat and the workers would do now: sweep, expire, run each message, again."""
        settings = get_settings()
        for _ in range(1000):
            with unit_of_work() as session:
                jobs.requeue_stale(
                    session,
                    now=self.now,
                    stale_after_seconds=settings.job_requeue_after_seconds,
                    account_ids=self.account_ids,
                )
                orders.expire_unpaid(session, now=self.now, account_ids=self.account_ids)
            with unit_of_work() as session:
                outbox.relay_due(
                    session, now=self.now, grace_seconds=0, account_ids=self.account_ids
                )
            if not self.sent:
                return
            batch = list(self.sent)
            self.sent.clear()
            for message in batch:
                self._run(message)
        raise AssertionError("the simulated system never came to rest")

    def _run(self, message: outbox.OutgoingMessage) -> None:
        celery_app.loader.import_default_modules()  # registers every job task (JOB_TASKS)
        if message.task not in JOB_TASKS:
            return  # a wake-up with no job (the events feed's drain): beat's own business
        body, on_failure = JOB_TASKS[message.task]
        self.ran.append(message.task)
        run_job(
            celery_app.tasks[message.task], uuid.UUID(message.kwargs["job_id"]), body, on_failure
        )

    def _next_due(self) -> datetime | None:
        with unit_of_work() as session:
            due: datetime | None = session.scalar(
                select(func.min(OutboxMessage.available_at))
                .join(Job, Job.id == OutboxMessage.job_id)
                .where(OutboxMessage.published_at.is_(None), Job.account_id.in_(self.account_ids))
            )
        return due


@contextmanager
def simulated_time(account_ids: list[uuid.UUID], **env: Any) -> Iterator[SimulatedTime]:
    """Run a test's jobs in simulated time with production schedules (env overrides them)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("WAIT_SCHEDULE", "RETRY_SCHEDULE_DEFAULT"):
            mp.delenv(name, raising=False)
        mp.setenv("CELERY_MAX_COUNTDOWN_SECONDS", "0")
        for name, value in env.items():
            mp.setenv(name, str(value))
        get_settings.cache_clear()
        sim = SimulatedTime(account_ids)
        set_clock(lambda: sim.now)
        outbox.set_publisher(sim.sent.append)
        try:
            yield sim
        finally:
            set_clock(None)
            publisher.install()
    get_settings.cache_clear()
