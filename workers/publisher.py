"""Hands outbox messages to the broker through Celery."""

from __future__ import annotations

from domain.jobs import outbox
from workers.celery_app import celery_app


def publish(message: outbox.OutgoingMessage) -> None:
    """Send one message; raise if the broker cannot take it now (the sweep will retry)."""
    celery_app.send_task(
        message.task,
        kwargs=message.kwargs,
        queue=message.queue,
        task_id=str(message.id),
        retry=True,
        retry_policy={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
    )


def install() -> None:
    """Make the outbox relay publish through Celery in this process."""
    outbox.set_publisher(publish)
