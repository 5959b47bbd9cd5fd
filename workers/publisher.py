"""Hands outbox messages to the broker through Celery."""

from __future__ import annotations

from celery import Celery

from domain.jobs import outbox
from workers.celery_app import celery_app


def publisher_for(app: Celery) -> outbox.Publisher:
    """A publisher sending through app; it raises when the broker cannot take a message now."""

    def publish(message: outbox.OutgoingMessage) -> None:
        app.send_task(
            message.task,
            kwargs=message.kwargs,
            queue=message.queue,
            task_id=str(message.id),
            # One quick retry, then give up: the request must not hang on a dead broker,
            # and the outbox sweep sends the message later.
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        )

    return publish


def install(app: Celery | None = None) -> None:
    """Make the outbox relay publish through Celery in this process."""
    outbox.set_publisher(publisher_for(app or celery_app))
