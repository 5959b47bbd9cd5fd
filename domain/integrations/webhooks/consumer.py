"""The feed consumer of outgoing webhooks: each event → one delivery per subscribed endpoint.

Quick database work only (the feed's rule): the rows are written with the cursor in the
batch's transaction, and the dispatcher is woken right after that commit.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from domain.events import feed
from domain.integrations.webhooks import deliveries
from domain.integrations.webhooks import repository as repo
from domain.integrations.webhooks.models import Webhook
from domain.integrations.webhooks.task_names import DISPATCH
from domain.jobs import outbox
from domain.jobs.queues import queue_for
from domain.shared.db import utcnow
from domain.shared.events import DomainEvent

CONSUMER = "webhooks.deliveries"


# Events per batch: each becomes one delivery per subscribed endpoint, and the dispatcher
# starts on a batch once it commits, so smaller batches start sending sooner.
BATCH_SIZE = 50


@feed.consumer(CONSUMER, batch_size=BATCH_SIZE)
def create_deliveries(session: Session, events: list[DomainEvent]) -> None:
    """A delivery due now for each event and each enabled endpoint subscribed to its type.

    An endpoint receives only events that happened after it was created (the consumer
    may be behind).
    """
    by_account: dict[object, list[Webhook]] = defaultdict(list)
    for webhook in repo.enabled_webhooks(session, {e.account_id for e in events}):
        by_account[webhook.account_id].append(webhook)
    if not by_account:
        return
    now = utcnow()
    rows = []
    for event in events:
        body: str | None = None
        for webhook in by_account.get(event.account_id, ()):
            if event.type not in webhook.event_types or event.occurred_at < webhook.created_at:
                continue
            body = body or deliveries.body_of(
                event.type, event.occurred_at, event.payload, event.id
            )
            rows.append(
                deliveries.new_delivery(
                    webhook, event_id=event.id, event_type=event.type, body=body, now=now
                )
            )
    if repo.insert_deliveries(session, rows):
        wake_dispatcher(session)


def wake_dispatcher(session: Session) -> None:
    """Have the dispatcher run right after this transaction commits (beat runs it anyway)."""
    outbox.wake_after_commit(session, task=DISPATCH, queue=queue_for(DISPATCH))
