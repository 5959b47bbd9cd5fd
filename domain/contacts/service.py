"""Use cases of the contacts context; other modules capture leads through upsert_contact."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from domain.contacts import repository as repo
from domain.contacts.models import Contact
from domain.shared import events
from domain.shared.db import utcnow
from domain.shared.errors import NotFound
from domain.shared.schemas import PageParams


def upsert_contact(
    session: Session,
    *,
    account_id: uuid.UUID,
    email: str,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
    source: str | None = None,
    attributes: dict[str, Any] | None = None,
    marketing_consent: bool = False,
    visitor_id: str | None = None,
) -> tuple[Contact, bool]:
    """The contact for (account, email), created or enriched; (contact, created).

    `marketing_consent=True` records consent now (from `source`); False leaves what is
    known, since not ticking a box again is not a withdrawal. Emits contact.created for a
    new contact and contact.updated for a known one.
    """
    email = email.strip().lower()
    now = utcnow()
    fields: dict[str, Any] = {
        "first_name": first_name,
        "last_name": last_name,
        "phone": phone,
        "source": source,
        "visitor_id": visitor_id,
    }
    if marketing_consent:
        fields |= {"marketing_consent": True, "consent_at": now, "consent_source": source}
    contact, created = repo.upsert(
        session,
        account_id=account_id,
        email=email,
        fields=fields,
        attributes=attributes or {},
        now=now,
    )
    events.record(
        session,
        account_id=account_id,
        type="contact.created" if created else "contact.updated",
        subject_id=contact.id,
        payload={"contact_id": str(contact.id), "email": contact.email, "source": contact.source},
    )
    return contact, created


def record_opt_in(
    session: Session,
    *,
    account_id: uuid.UUID,
    contact_id: uuid.UUID,
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    email_consent: bool,
    visitor_id: str | None,
    session_id: str | None,
) -> None:
    """Record that a visitor submitted a funnel's opt-in form (contact.opted_in).

    The server's record of the opt-in: analytics counts it from this event, never from
    what a browser reports.
    """
    events.record(
        session,
        account_id=account_id,
        type="contact.opted_in",
        subject_id=contact_id,
        payload={
            "contact_id": str(contact_id),
            "funnel_id": str(funnel_id),
            "step_id": str(step_id),
            "email_consent": email_consent,
            "visitor_id": visitor_id,
            "session_id": session_id,
        },
    )


def get(session: Session, *, account_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    """One of the account's contacts, or 404."""
    contact = repo.get(session, account_id, contact_id)
    if contact is None:
        raise NotFound("Contact not found")
    return contact


def list_contacts(
    session: Session, *, account_id: uuid.UUID, page: PageParams, search: str | None = None
) -> tuple[list[Contact], int]:
    """A page of the account's contacts."""
    return repo.list_contacts(session, account_id, page, search=search)


def consenting_changed(
    session: Session,
    *,
    account_id: uuid.UUID,
    since: datetime | None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 1000,
) -> list[Contact]:
    """A page of the contacts who agreed to marketing email and changed since `since`.

    Ordered by (updated_at, id); pass the last one's (updated_at, id) as `after` for the next.
    """
    return repo.consenting_changed(session, account_id, since=since, after=after, limit=limit)


def consenting_by_ids(
    session: Session, *, account_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> list[Contact]:
    """Those of these contacts that belong to the account and agreed to marketing email."""
    return repo.consenting_by_ids(session, account_id, contact_ids)


def erase(session: Session, *, account_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    """Delete the person: the row with every personal field and the visitor link (erasure).

    Returns the deleted contact (detached) so the caller can reach systems that hold the
    address elsewhere. Rows naming the contact elsewhere lose the link (orders) or go
    with it (per-integration sync state).
    """
    contact = get(session, account_id=account_id, contact_id=contact_id)
    session.delete(contact)
    session.flush()
    return contact
