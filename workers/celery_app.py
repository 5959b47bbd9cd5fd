"""The Celery application: broker from settings, one queue per context, safe acknowledgement."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

import domain.models  # noqa: F401 - every mapper registered before a task touches the database
from beat_schedule import BEAT_SCHEDULE
from domain.jobs.queues import QUEUES, queue_for
from domain.shared.db import dispose_engine
from domain.shared.settings import get_settings


def _route(name: str, *_: Any, **__: Any) -> dict[str, str]:
    """Every task goes to its context's queue."""
    return {"queue": queue_for(name)}


def create_celery(broker_url: str | None = None) -> Celery:
    """A Celery app configured from settings (broker_url overrides the configured broker)."""
    settings = get_settings()
    app = Celery("funnels")
    app.conf.update(
        broker_url=broker_url or settings.celery_broker_url or settings.redis_url,
        broker_connection_retry_on_startup=True,
        # A Redis broker re-delivers an unacknowledged message after this long.
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "socket_connect_timeout": settings.broker_publish_timeout_seconds,
            "socket_timeout": 10,
        },
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="default",
        task_routes=(_route,),
        task_serializer="json",
        accept_content=["json"],
        # Acknowledge after the task ran, and re-queue if its worker process died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=BEAT_SCHEDULE,
        include=[
            "workers.tasks.jobs",
            "workers.tasks.payments",
            "workers.tasks.retention",
            "workers.tasks.events",
            "workers.tasks.integrations",
            "workers.tasks.analytics",
            "workers.tasks.webhooks",
            "workers.tasks.analytics_rollup",
        ],
    )
    return app


celery_app = create_celery()


@worker_process_init.connect
def _fresh_engine_per_child(**_: Any) -> None:
    """A forked pool process must not share the parent's database connections."""
    dispose_engine()
    from workers.publisher import install

    install()
