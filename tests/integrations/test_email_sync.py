"""Syncing contacts to the email providers: incremental, consent, retries, the feed, erasure.

Jobs run in this process on simulated time (tests/support/simulated.py): the retry
schedule's hours pass in milliseconds, the adapters reach local stand-ins over HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from domain.contacts import service as contacts_service
from domain.contacts.models import Contact
from domain.events import service as events_service
from domain.integrations.feed import push_new_contacts
from domain.integrations.models import IntegrationContact
from domain.orders.models import Order
from domain.shared.db import unit_of_work, utcnow
from domain.shared.events import DomainEvent
from tests.support.email_integrations import (
    Providers,
    add_contact,
    connect,
    job,
    logs_of,
    running_providers,
    simulated,
)
from tests.support.email_standins import md5_lower

BASE = "/api/v1/integrations"


@pytest.fixture(scope="module")
def standins() -> Iterator[Providers]:
    """The three provider stand-ins, for the module."""
    with running_providers() as found:
        yield found


@pytest.fixture
def providers(standins: Providers) -> Iterator[Providers]:
    """Clean stand-ins; no shape violations at the end."""
    standins.reset()
    yield standins
    assert standins.violations() == []


def _sync(client: Any, tenant: Any, integration_id: str) -> str:
    """POST …/sync: 202 with the job to poll; its id."""
    r = client.post(f"{BASE}/{integration_id}/sync", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/api/v1/jobs/{r.json()['job_id']}"
    return str(r.json()["job_id"])


def test_sync_pushes_consenting_contacts_once_then_only_changes(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """Consenting contacts with names, mapped fields and tags; no consent never; then only
    what changed."""
    mc = providers.mc
    a = tenant.account_id
    with simulated(providers, a) as sim:
        ann = add_contact(a, "ann@example.com", first_name="Ann", last_name="Lee", phone="+155501")
        add_contact(a, "bob@example.com", first_name="Bob")
        add_contact(a, "nope@example.com", consent=False, first_name="No")
        out = connect(
            client,
            tenant,
            "mailchimp",
            settings={
                "list_id": "L1",
                "tags": ["lead"],
                "field_mapping": [{"field": "PHONE", "source": "phone"}],
            },
        )
        first = _sync(client, tenant, out["id"])
        sim.run_due()
        assert job(first).status == "succeeded"
        member = mc.member("L1", "ann@example.com")
        assert member is not None
        assert member["merge_fields"] == {"FNAME": "Ann", "LNAME": "Lee", "PHONE": "+155501"}
        assert member["tags"] == ["lead"]
        assert mc.member("L1", "bob@example.com") is not None
        assert mc.member("L1", "nope@example.com") is None
        assert "nope@example.com" not in mc.writes

        sim.advance(seconds=1)
        _sync(client, tenant, out["id"])
        sim.run_due()
        sim.advance(seconds=5)
        add_contact(a, "ann@example.com", first_name="Annie")
        _sync(client, tenant, out["id"])
        sim.run_due()
    assert dict(mc.writes) == {"ann@example.com": 2, "bob@example.com": 1}
    logs = logs_of(out["id"])
    assert [(x.status, x.candidates, x.pushed) for x in logs] == [
        ("succeeded", 2, 2),
        ("succeeded", 0, 0),
        ("succeeded", 1, 1),
    ]
    api_logs = client.get(f"{BASE}/{out['id']}/sync-logs", headers=tenant.headers).json()
    assert api_logs["total"] == 3
    assert api_logs["items"][0]["pushed"] == 1
    detail = client.get(f"{BASE}/{out['id']}", headers=tenant.headers).json()
    assert detail["status"] == "connected"
    assert detail["last_synced_at"] is not None
    with unit_of_work() as session:
        assert session.get(IntegrationContact, (uuid.UUID(out["id"]), ann)) is not None


def test_500s_then_429_mid_sync_finish_later_nothing_pushed_twice(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """ActiveCampaign fails the third contact with 500s, then asks for 2 hours with a 429:
    the job waits the schedule, then Retry-After, and finishes; every contact written once."""
    ac = providers.ac
    a = tenant.account_id
    emails = [f"p{i}@example.com" for i in range(5)]
    with simulated(providers, a) as sim:
        for email in emails:
            add_contact(a, email, first_name="P")
        out = connect(client, tenant, "activecampaign")
        ac.fail_next(3, 500, path="/contact/sync", skip=2, message="upstream exploded")
        job_id = _sync(client, tenant, out["id"])
        sim.run_due()
        waiting = job(job_id)
        assert waiting.status == "queued"
        assert waiting.next_attempt_at is not None
        first_wait = (waiting.next_attempt_at - sim.now).total_seconds()
        assert 54 <= first_wait <= 66  # the integrations schedule's 1 min, jittered

        ac.fail_next(1, 429, path="/contact/sync", retry_after="7200", message="slow down")
        sim.advance(minutes=2)
        waiting = job(job_id)
        assert waiting.status == "queued"
        assert waiting.next_attempt_at is not None
        second_run = logs_of(out["id"])[1].finished_at
        assert (waiting.next_attempt_at - second_run).total_seconds() == 7200  # Retry-After
        sim.advance(hours=1)
        assert len(logs_of(out["id"])) == 2  # nothing ran before Retry-After
        sim.advance(hours=1, minutes=5)
    assert job(job_id).status == "succeeded"
    assert {e: ac.writes[e] for e in emails} == dict.fromkeys(emails, 1)
    logs = logs_of(out["id"])
    assert [(x.status, x.pushed, x.left_for_retry) for x in logs] == [
        ("partial", 2, 3),
        ("partial", 0, 3),
        ("succeeded", 3, 0),
    ]
    assert "500" in (logs[0].message or "")
    assert "upstream exploded" in (logs[0].message or "")
    assert "429" in (logs[1].message or "")
    assert "7200" in (logs[1].message or "")


def test_a_refused_contact_is_logged_by_id_and_not_retried(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """Mailchimp refuses an address in its batch answer: the log names the contact id only."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        bad = add_contact(a, "weird@localhost")
        add_contact(a, "fine@example.com")
        out = connect(client, tenant, "mailchimp")
        _sync(client, tenant, out["id"])
        sim.run_due()
        sim.advance(seconds=1)
        _sync(client, tenant, out["id"])
        sim.run_due()
    first, second = logs_of(out["id"])
    assert (first.status, first.pushed, first.failed) == ("succeeded", 1, 1)
    assert first.errors[0]["contact_id"] == str(bad)
    assert "weird@localhost" not in str(first.errors)
    assert second.candidates == 0
    assert providers.mc.writes["weird@localhost"] == 0


def test_bad_credentials_fail_the_test_job_clearly(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """A wrong SendGrid key: the job fails with SendGrid's reason, the integration says so."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        out = connect(
            client, tenant, "sendgrid", credentials={"api_key": "SG.wrong.key-0123456789"}
        )
        r = client.post(f"{BASE}/{out['id']}/test", headers=tenant.headers)
        assert r.status_code == 202
        sim.run_due()
    polled = client.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=tenant.headers).json()
    assert polled["status"] == "failed"
    assert "sendgrid GET /v3/scopes answered 401" in polled["error"]
    detail = client.get(f"{BASE}/{out['id']}", headers=tenant.headers).json()
    assert detail["status"] == "failed"
    assert detail["status_reason"] == polled["error"]
    assert detail["last_tested_at"] is not None
    assert "SG.wrong.key" not in polled["error"] + str(detail)


def test_bad_credentials_fail_a_sync_with_a_log(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """A sync refused for its key fails at once (no retries): one failed log, the reason."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        add_contact(a, "c@example.com")
        out = connect(client, tenant, "mailchimp", credentials={"api_key": "f" * 32 + "-us6"})
        job_id = _sync(client, tenant, out["id"])
        sim.run_due()
    assert job(job_id).status == "failed"
    assert job(job_id).attempts == 1
    (log,) = logs_of(out["id"])
    assert log.status == "failed"
    assert "401" in (log.message or "")
    assert client.get(f"{BASE}/{out['id']}", headers=tenant.headers).json()["status"] == "failed"


def _events_of(account_id: uuid.UUID) -> list[DomainEvent]:
    with unit_of_work() as session:
        return list(
            session.scalars(
                select(DomainEvent)
                .where(DomainEvent.account_id == account_id)
                .order_by(DomainEvent.tx_id, DomainEvent.id)
            )
        )


def test_new_opt_ins_are_pushed_from_the_feed(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """The feed consumer queues a small push per integration for consenting contacts only."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        mc_out = connect(client, tenant, "mailchimp")
        sg_out = connect(client, tenant, "sendgrid")
        connect(client, tenant, "activecampaign", settings={"list_id": "7", "auto_sync": False})
        add_contact(a, "new@example.com", first_name="New")
        add_contact(a, "quiet@example.com", consent=False)
        with unit_of_work() as session:
            push_new_contacts(session, _events_of(a))
        sim.run_due()
    assert providers.mc.member("L1", "new@example.com") is not None
    assert providers.sg.contact("new@example.com") is not None
    assert providers.ac.writes == {}  # auto_sync off
    for standin in (providers.mc, providers.sg):
        assert "quiet@example.com" not in standin.writes
    (log,) = logs_of(mc_out["id"])
    assert (log.trigger, log.pushed) == ("event", 1)
    assert logs_of(sg_out["id"])[0].pushed == 1


def _order_for(account_id: uuid.UUID, contact_id: uuid.UUID) -> uuid.UUID:
    """A paid order of the contact's, with a full billing address."""
    with unit_of_work() as session:
        order = Order(
            id=uuid.uuid4(),
            account_id=account_id,
            number=int(uuid.uuid4().int % 10**9),
            contact_id=contact_id,
            visitor_id="v-123",
            session_id="s-123",
            status="paid",
            payment_status="paid",
            currency="EUR",
            total_cents=4900,
            customer_email="gone@example.com",
            customer_name="Gone Person",
            billing_address={
                "line1": "1 Main St",
                "city": "Lyon",
                "postal_code": "69001",
                "country": "FR",
            },
            customer_token_hash="0" * 64,
            paid_at=utcnow(),
        )
        session.add(order)
        return order.id


def test_erasure_removes_the_person_here_and_at_each_provider(
    client: Any, tenant: Any, other_tenant: Any, providers: Providers
) -> None:
    """DELETE /contacts/{id}: contact and sync state gone, orders anonymised, Mailchimp and
    ActiveCampaign told; another account's contact is 404."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        person = add_contact(a, "gone@example.com", first_name="Gone", visitor_id="v-123")
        order_id = _order_for(a, person)
        mc_out = connect(client, tenant, "mailchimp")
        connect(client, tenant, "activecampaign")
        _sync(client, tenant, mc_out["id"])
        sim.run_due()
        assert providers.mc.member("L1", "gone@example.com") is not None
        assert (
            client.delete(f"/api/v1/contacts/{person}", headers=other_tenant.headers).status_code
            == 404
        )
        r = client.delete(f"/api/v1/contacts/{person}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert r.json()["orders_anonymised"] == 1
        assert len(r.json()["provider_jobs"]) == 2
        sim.run_due()
    assert client.get(f"/api/v1/contacts/{person}", headers=tenant.headers).status_code == 404
    assert providers.mc.deleted == ["gone@example.com"]
    assert providers.mc.calls(
        "POST", f"/members/{md5_lower('gone@example.com')}/actions/delete-permanent"
    )
    assert providers.ac.calls("GET", "/contacts")  # looked up; absent there, so nothing deleted
    for job_id in r.json()["provider_jobs"]:
        done = job(job_id)
        assert done.status == "succeeded"
        assert "email_token" not in done.arguments
    with unit_of_work() as session:
        assert session.get(Contact, person) is None
        assert (
            session.scalars(
                select(IntegrationContact).where(IntegrationContact.contact_id == person)
            ).all()
            == []
        )
        order = session.get(Order, order_id)
        assert order is not None
        assert (order.customer_email, order.customer_name) == ("[erased]", None)
        assert order.billing_address == {"country": "FR"}
        assert (order.visitor_id, order.session_id, order.contact_id) == (None, None, None)
        assert (order.total_cents, order.currency, order.status) == (4900, "EUR", "paid")
    for log in logs_of(mc_out["id"]):
        assert "gone@example.com" not in str(log.errors) + str(log.message)
    about = [e for e in _events_of(a) if e.payload.get("contact_id") == str(person)]
    assert about
    assert {e.payload["email"] for e in about} == {"[erased]"}


def test_erasure_after_pushing_to_activecampaign_and_sendgrid(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """The person pushed to both is deleted at both."""
    a = tenant.account_id
    with simulated(providers, a) as sim:
        person = add_contact(a, "both@example.com")
        for provider in ("activecampaign", "sendgrid"):
            _sync(client, tenant, connect(client, tenant, provider)["id"])
        sim.run_due()
        assert providers.ac.by_email("both@example.com") is not None
        assert (
            client.delete(f"/api/v1/contacts/{person}", headers=tenant.headers).status_code == 200
        )
        sim.run_due()
    assert providers.ac.deleted == ["both@example.com"]
    assert providers.sg.calls("DELETE", "/v3/marketing/contacts")
    assert providers.sg.contact("both@example.com") is None


def test_sync_runs_keep_going_past_a_provider_being_down(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """SendGrid down for the whole schedule: partial logs, then the job ends, nothing lost:
    the next sync pushes the contact."""
    a = tenant.account_id
    with simulated(providers, a, RETRY_SCHEDULE_INTEGRATIONS="1m,5m") as sim:
        add_contact(a, "later@example.com")
        out = connect(client, tenant, "sendgrid")
        providers.sg.fail_next(100, 503, method="PUT")
        job_id = _sync(client, tenant, out["id"])
        sim.advance(hours=1)
        assert job(job_id).status == "succeeded"
        assert job(job_id).result == {
            "candidates": 1,
            "pushed": 0,
            "failed": 0,
            "left_for_retry": 1,
            "status": "partial",
        }
        providers.sg.faults.clear()
        sim.advance(seconds=1)
        _sync(client, tenant, out["id"])
        sim.run_due()
    logs = logs_of(out["id"])
    assert [x.status for x in logs] == ["partial", "partial", "partial", "succeeded"]
    assert "gave up for now" in (logs[2].message or "")
    assert providers.sg.writes["later@example.com"] == 1


def test_the_feed_stays_append_only_but_for_erasing_an_address(db: Any, tenant: Any) -> None:
    """The erasure flag lets a payload change, never an event's type; without it, nothing."""
    contact, _ = contacts_service.upsert_contact(
        db, account_id=tenant.account_id, email="flag@example.com"
    )
    db.flush()
    (event,) = [e for e in _events_in(db, tenant.account_id) if e.subject_id == contact.id]
    change_type = text("UPDATE domain_events SET type = 'x' WHERE id = :id")
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("UPDATE domain_events SET payload = '{}' WHERE id = :id"), {"id": event.id})
    assert (
        events_service.redact_contact_email(db, account_id=tenant.account_id, contact_id=contact.id)
        == 1
    )
    with db.begin_nested():
        db.execute(text("SELECT set_config('funnels.events_erasure', 'on', true)"))
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(change_type, {"id": event.id})
    db.expire_all()
    assert db.get(DomainEvent, event.id).payload["email"] == "[erased]"


def _events_in(session: Any, account_id: uuid.UUID) -> list[DomainEvent]:
    return list(session.scalars(select(DomainEvent).where(DomainEvent.account_id == account_id)))


def test_an_unsubscribe_at_mailchimp_is_never_undone_by_a_sync(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """A member who unsubscribed there keeps that status; their new name still arrives."""
    mc = providers.mc
    a = tenant.account_id
    with simulated(providers, a) as sim:
        add_contact(a, "left@example.com", first_name="Left")
        out = connect(client, tenant, "mailchimp")
        _sync(client, tenant, out["id"])
        sim.run_due()
        with mc.lock:
            mc.lists["L1"]["members"][md5_lower("left@example.com")]["status"] = "unsubscribed"
        sim.advance(seconds=5)
        add_contact(a, "left@example.com", first_name="Renamed")
        _sync(client, tenant, out["id"])
        sim.run_due()
    member = mc.member("L1", "left@example.com")
    assert member is not None
    assert member["status"] == "unsubscribed"
    assert member["merge_fields"]["FNAME"] == "Renamed"
    assert [x.pushed for x in logs_of(out["id"])] == [1, 1]


def test_an_unsubscribe_at_activecampaign_is_never_undone_by_a_sync(
    client: Any, tenant: Any, providers: Providers
) -> None:
    """A contact who unsubscribed from the list there stays unsubscribed after a push."""
    ac = providers.ac
    a = tenant.account_id
    with simulated(providers, a) as sim:
        add_contact(a, "gone-quiet@example.com", first_name="Q")
        out = connect(client, tenant, "activecampaign")
        _sync(client, tenant, out["id"])
        sim.run_due()
        stored = ac.by_email("gone-quiet@example.com")
        assert stored is not None
        assert ac.contact_lists[("7", stored["id"])] == 1
        with ac.lock:
            ac.contact_lists[("7", stored["id"])] = 2
        sim.advance(seconds=5)
        add_contact(a, "gone-quiet@example.com", first_name="Renamed")
        _sync(client, tenant, out["id"])
        sim.run_due()
    assert ac.contact_lists[("7", stored["id"])] == 2
    assert ac.by_email("gone-quiet@example.com")["firstName"] == "Renamed"  # type: ignore[index]
    assert len(ac.calls("POST", "/contactLists")) == 1
