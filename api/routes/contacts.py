"""Leads and customers captured by funnels (funnels and orders write them); erasure."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, DbSession, Pagination
from domain.contacts import service as contacts
from domain.contacts.schemas import ContactErasedOut, ContactOut
from domain.privacy import service as privacy
from domain.shared.schemas import Page, SafeStr, page_of

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", response_model=Page[ContactOut])
def list_contacts(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    search: Annotated[
        SafeStr | None, Query(max_length=200, description="email, name or phone contains")
    ] = None,
) -> Page[ContactOut]:
    """The account's contacts, newest first."""
    rows, total = contacts.list_contacts(
        db, account_id=principal.account_id, page=page, search=search
    )
    return page_of(ContactOut, rows, total, page)


@router.get("/{contact_id}", response_model=ContactOut)
def get_contact(contact_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> ContactOut:
    """One contact."""
    return ContactOut.model_validate(
        contacts.get(db, account_id=principal.account_id, contact_id=contact_id)
    )


@router.delete("/{contact_id}", response_model=ContactErasedOut)
def erase_contact(
    contact_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession
) -> ContactErasedOut:
    """Erase the person: the contact is deleted, their orders keep only what accounting needs.

    Each connected email provider is told by a job (`provider_jobs`, poll /api/v1/jobs/{id}).
    """
    done = privacy.erase_contact(db, account_id=principal.account_id, contact_id=contact_id)
    return ContactErasedOut(
        id=done.contact_id,
        orders_anonymised=done.orders_anonymised,
        provider_jobs=done.provider_jobs,
    )
