"""Contacts: the upsert other modules call, the read endpoints, tenancy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from domain.contacts import service as contacts
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent
from tests.support.tenancy import assert_isolated


def test_upsert_creates_once_and_enriches(db: Any, tenant: Any) -> None:
    first, created = contacts.upsert_contact(
        db,
        account_id=tenant.account_id,
        email="Jane@Example.com",
        first_name="Jane",
        source="optin",
    )
    assert created
    assert first.email == "jane@example.com"
    again, created_again = contacts.upsert_contact(
        db,
        account_id=tenant.account_id,
        email="jane@example.com ",
        last_name="Doe",
        attributes={"plan": "pro"},
    )
    assert not created_again
    assert again.id == first.id
    assert (again.first_name, again.last_name, again.source) == ("Jane", "Doe", "optin")
    assert again.attributes == {"plan": "pro"}
    types = db.scalars(
        select(DomainEvent.type)
        .where(DomainEvent.account_id == tenant.account_id)
        .order_by(DomainEvent.id)
    ).all()
    assert types == ["contact.created", "contact.updated"]


def test_same_email_in_two_accounts_is_two_contacts(
    db: Any, tenant: Any, other_tenant: Any
) -> None:
    a, _ = contacts.upsert_contact(db, account_id=tenant.account_id, email="x@example.com")
    b, created = contacts.upsert_contact(
        db, account_id=other_tenant.account_id, email="x@example.com"
    )
    assert created
    assert a.id != b.id


def test_list_search_detail_and_isolation(client: Any, tenant: Any, other_tenant: Any) -> None:
    with unit_of_work() as session:
        jane, _ = contacts.upsert_contact(
            session,
            account_id=tenant.account_id,
            email="jane@example.com",
            first_name="Jane",
            last_name="Roe",
        )
        contacts.upsert_contact(session, account_id=tenant.account_id, email="bob@example.com")
    listed = client.get("/api/v1/contacts", headers=tenant.headers).json()
    assert listed["total"] == 2
    found = client.get(
        "/api/v1/contacts", params={"search": "jane roe"}, headers=tenant.headers
    ).json()
    assert [c["email"] for c in found["items"]] == ["jane@example.com"]
    path = f"/api/v1/contacts/{jane.id}"
    assert client.get(path, headers=tenant.headers).json()["first_name"] == "Jane"
    assert_isolated(
        client,
        other_tenant.headers,
        [("GET", path, None)],
        snapshot=lambda: client.get(path, headers=tenant.headers).json(),
    )
    assert client.get("/api/v1/contacts", headers=other_tenant.headers).json()["total"] == 0
