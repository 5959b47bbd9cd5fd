"""Erasure of one person, across contexts (nothing imports this but the API).

It lives outside contacts because it reaches orders and integrations, which themselves use
contacts: one orchestrator here keeps the contexts from importing each other in a circle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from domain.contacts import service as contacts
from domain.events import service as events
from domain.integrations import service as integrations
from domain.orders import service as orders


@dataclass(frozen=True)
class Erasure:
    """What the erasure did now and what it left to jobs."""

    contact_id: uuid.UUID
    orders_anonymised: int
    provider_jobs: list[uuid.UUID]


def erase_contact(session: Session, *, account_id: uuid.UUID, contact_id: uuid.UUID) -> Erasure:
    """Erase the person: orders anonymised, the address out of the events feed, the contact
    deleted, each connected provider told (jobs)."""
    contact = contacts.get(session, account_id=account_id, contact_id=contact_id)
    email = contact.email
    count = orders.forget_customer(session, account_id=account_id, contact_id=contact_id)
    events.redact_contact_email(session, account_id=account_id, contact_id=contact_id)
    contacts.erase(session, account_id=account_id, contact_id=contact_id)
    jobs = integrations.erase_contact_at_providers(session, account_id=account_id, email=email)
    return Erasure(contact_id, count, [job.id for job in jobs])
