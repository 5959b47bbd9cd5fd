"""Every query of the contacts context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contacts.models import Contact
from domain.shared.db import like_pattern, paginate
from domain.shared.schemas import PageParams


def get(session: Session, account_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
    """One of the account's contacts."""
    return session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id)
    )


def list_contacts(
    session: Session, account_id: uuid.UUID, page: PageParams, *, search: str | None
) -> tuple[list[Contact], int]:
    """The account's contacts, newest first, optionally matching a search term."""
    stmt = select(Contact).where(Contact.account_id == account_id)
    if search:
        pattern = like_pattern(search)
        full_name = func.concat_ws(" ", Contact.first_name, Contact.last_name)
        stmt = stmt.where(
            or_(
                Contact.email.ilike(pattern), full_name.ilike(pattern), Contact.phone.ilike(pattern)
            )
        )
    return paginate(session, stmt.order_by(Contact.created_at.desc(), Contact.id), page)


def upsert(
    session: Session,
    *,
    account_id: uuid.UUID,
    email: str,
    fields: dict[str, Any],
    attributes: dict[str, Any],
    now: datetime,
) -> tuple[Contact, bool]:
    """Insert or update the contact with this email in one statement; (contact, created)."""
    values = {
        "id": uuid.uuid4(),
        "account_id": account_id,
        "email": email,
        "attributes": attributes,
        "last_seen_at": now,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    stmt = insert(Contact).values(**values)
    # Known values are kept unless the new capture brings a value; attributes merge.
    set_: dict[str, Any] = {
        name: func.coalesce(stmt.excluded[name], Contact.__table__.c[name]) for name in fields
    }
    set_["attributes"] = Contact.__table__.c.attributes.op("||")(stmt.excluded.attributes)
    set_["last_seen_at"] = now
    set_["updated_at"] = now
    # xmax = 0 only on a freshly inserted row: tells a new contact from an updated one.
    upsert_stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "email"], set_=set_
    ).returning(Contact, text("xmax = 0"))
    contact, created = session.execute(
        upsert_stmt, execution_options={"populate_existing": True}
    ).one()
    return contact, bool(created)


def consenting_changed(
    session: Session,
    account_id: uuid.UUID,
    *,
    since: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Contact]:
    """Consenting contacts changed since `since`, by (updated_at, id), after a keyset cursor."""
    stmt = select(Contact).where(
        Contact.account_id == account_id, Contact.marketing_consent.is_(True)
    )
    if since is not None:
        stmt = stmt.where(Contact.updated_at >= since)
    if after is not None:
        stmt = stmt.where(tuple_(Contact.updated_at, Contact.id) > tuple_(*after))
    return list(session.scalars(stmt.order_by(Contact.updated_at, Contact.id).limit(limit)))


def consenting_by_ids(
    session: Session, account_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> list[Contact]:
    """Those of these contacts that are the account's and consent, by (updated_at, id)."""
    return list(
        session.scalars(
            select(Contact)
            .where(
                Contact.account_id == account_id,
                Contact.id.in_(contact_ids),
                Contact.marketing_consent.is_(True),
            )
            .order_by(Contact.updated_at, Contact.id)
        )
    )
