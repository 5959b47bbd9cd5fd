"""New opt-ins and buyers reach the email providers as they happen: a consumer of the feed.

For each batch of events it finds, per account, the contacts they name who agree to
marketing email, and queues one small push job (`integrations.push`) per integration set to
sync as things happen. The push is a sync limited to those contacts: consent and the
nothing-twice rule apply as in a full sync.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy.orm import Session

from domain.contacts import service as contacts
from domain.events import feed
from domain.integrations import service
from domain.shared.events import DomainEvent

CONSUMER = "integrations.email_push"
TYPES = ("contact.created", "contact.updated", "contact.opted_in", "order.paid")


def _contact_id(event: DomainEvent) -> uuid.UUID | None:
    """The contact an event names, if any."""
    value = event.payload.get("contact_id")
    return uuid.UUID(str(value)) if value else None


@feed.consumer(CONSUMER, types=TYPES, start="latest")
def push_new_contacts(session: Session, events: list[DomainEvent]) -> None:
    """Queue a push of the consenting contacts these events name, per account."""
    named: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for event in events:
        contact_id = _contact_id(event)
        if contact_id is not None:
            named[event.account_id].add(contact_id)
    for account_id, ids in named.items():
        consenting = contacts.consenting_by_ids(
            session, account_id=account_id, contact_ids=sorted(ids)
        )
        if consenting:
            service.push_contacts_soon(
                session, account_id=account_id, contact_ids=[c.id for c in consenting]
            )
