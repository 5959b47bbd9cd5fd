"""Outgoing webhooks in tests: endpoints, events, and days of deliveries in simulated time.

`webhook_time` extends the simulated-time harness (tests/support/simulated.py): besides the
jobs, each step runs what the workers would (the feed's webhooks consumer, the dispatcher
with its real HTTP sends), narrowed to the test's accounts, on the clock the test moves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from domain.events import feed
from domain.integrations.webhooks import dispatcher
from domain.integrations.webhooks import repository as webhooks_repo
from domain.integrations.webhooks.consumer import CONSUMER
from domain.integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from domain.jobs import outbox
from domain.shared import events
from domain.shared.db import set_clock, unit_of_work
from domain.shared.settings import get_settings
from tests.support.aio import run_async
from tests.support.simulated import SimulatedTime
from workers import publisher
from workers.tasks.events import drain_consumer

BASE = "/api/v1/integrations/webhooks"


def subscribe(
    client: Any, headers: dict[str, str], url: str, types: list[str] | None = None
) -> dict[str, Any]:
    """Create an endpoint through the API; its answer (with the secret)."""
    body = {"url": url, "event_types": types or ["contact.created"]}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def record_contact_created(account_id: uuid.UUID) -> uuid.UUID:
    """Commit one contact.created event for the account; the contact id it names."""
    contact_id = uuid.uuid4()
    with unit_of_work() as session:
        events.record(
            session,
            account_id=account_id,
            type="contact.created",
            subject_id=contact_id,
            payload={
                "contact_id": contact_id,
                "email": f"{contact_id.hex}@example.com",
                "source": None,
            },
        )
    return contact_id


def deliveries_of(webhook_id: str | uuid.UUID) -> list[WebhookDelivery]:
    """The endpoint's deliveries, oldest first."""
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == uuid.UUID(str(webhook_id)))
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
            ).all()
        )


def attempts_of(delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    """A delivery's attempts, oldest first."""
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempted_at)
            ).all()
        )


def load_webhook(webhook_id: str | uuid.UUID) -> Webhook:
    """The endpoint as committed now."""
    with unit_of_work() as session:
        found = session.get(Webhook, uuid.UUID(str(webhook_id)))
        assert found is not None
        return found


def contact_ids_in(bodies: list[bytes]) -> list[str]:
    """The contact ids named by received webhook bodies, in order."""
    return [json.loads(b)["data"]["contact_id"] for b in bodies]


class WebhookTime(SimulatedTime):
    """SimulatedTime that also runs the webhooks consumer and the dispatcher at each step."""

    env: pytest.MonkeyPatch

    def run_due(self) -> None:
        """Jobs and sweeps, then events into deliveries, then every due delivery, till rest."""
        consumer = next(c for c in feed.registered() if c.name == CONSUMER)
        for _ in range(100):
            super().run_due()
            while drain_consumer(consumer):
                pass
            run_async(dispatcher.run(account_ids=self.account_ids))
            if not self.sent:  # no event recorded, no job asked for: nothing more is due now
                return
        raise AssertionError("the simulated webhooks never came to rest")

    def _next_due(self) -> datetime | None:
        due = [super()._next_due()]
        with unit_of_work() as session:
            due.append(webhooks_repo.next_due(session, self.account_ids))
        found = [d for d in due if d is not None]
        return min(found) if found else None


@contextmanager
def webhook_time(account_ids: list[uuid.UUID], **env: Any) -> Iterator[WebhookTime]:
    """Simulated time for webhooks with private (local) receiver URLs allowed."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("WAIT_SCHEDULE", "RETRY_SCHEDULE_DEFAULT", "RETRY_SCHEDULE_WEBHOOKS"):
            mp.delenv(name, raising=False)
        mp.setenv("CELERY_MAX_COUNTDOWN_SECONDS", "0")
        mp.setenv("ALLOW_PRIVATE_WEBHOOK_URLS", "true")
        for name, value in env.items():
            mp.setenv(name, str(value))
        get_settings.cache_clear()
        sim = WebhookTime(account_ids)
        sim.env = mp  # a test changes settings through it: undone with the rest, in order
        set_clock(lambda: sim.now)
        outbox.set_publisher(sim.sent.append)
        try:
            yield sim
        finally:
            set_clock(None)
            publisher.install()
    get_settings.cache_clear()
