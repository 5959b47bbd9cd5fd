"""Each email-provider adapter against a local stand-in of its API (request shapes checked)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from domain.integrations.providers import (
    ActiveCampaignProvider,
    Contact,
    MailchimpProvider,
    SendGridProvider,
)
from domain.integrations.providers.base import Pacer
from domain.shared.remote import FinalRemoteError, RemoteError, RetryableRemoteError
from tests.support.email_standins import (
    ActiveCampaignStandin,
    MailchimpStandin,
    SendGridStandin,
    Standin,
    md5_lower,
)

MC_KEY = "0123456789abcdef0123456789abcdef-us6"
SG_KEY = "SG.standin-key.0123456789abcdefghijklmnopqrstuvwxyz"
AC_KEY = "ac0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def people(n: int, domain: str = "example.com") -> list[Contact]:
    """n distinct contacts."""
    return [Contact(f"person{i}@{domain}", f"First{i}", f"Last{i}") for i in range(n)]


def _serve(standin: Standin) -> Iterator[Standin]:
    """Start once per module; each test starts from a clean state."""
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def mc_server() -> Iterator[Standin]:
    """The Mailchimp stand-in."""
    yield from _serve(MailchimpStandin(MC_KEY))


@pytest.fixture(scope="module")
def sg_server() -> Iterator[Standin]:
    """The SendGrid stand-in."""
    yield from _serve(SendGridStandin(SG_KEY))


@pytest.fixture(scope="module")
def ac_server() -> Iterator[Standin]:
    """The ActiveCampaign stand-in."""
    yield from _serve(ActiveCampaignStandin(AC_KEY))


@pytest.fixture
def mc(mc_server: MailchimpStandin) -> Iterator[MailchimpStandin]:
    """A clean Mailchimp with audience L1; no shape violations at the end."""
    mc_server.reset()
    mc_server.add_list("L1", "Newsletter")
    yield mc_server
    assert mc_server.violations == []


@pytest.fixture
def sg(sg_server: SendGridStandin) -> Iterator[SendGridStandin]:
    """A clean SendGrid with list sg-list-1; no shape violations at the end."""
    sg_server.reset()
    sg_server.add_list("sg-list-1", "Buyers")
    yield sg_server
    assert sg_server.violations == []


@pytest.fixture
def ac(ac_server: ActiveCampaignStandin) -> Iterator[ActiveCampaignStandin]:
    """A clean ActiveCampaign with list 7; no shape violations at the end."""
    ac_server.reset()
    ac_server.add_list("7", "Leads")
    yield ac_server
    assert ac_server.violations == []


def mailchimp(server: MailchimpStandin, key: str = MC_KEY) -> MailchimpProvider:
    """An adapter pointed at the stand-in."""
    return MailchimpProvider(key, "L1", base_url=server.base_url)


def sendgrid(server: SendGridStandin, key: str = SG_KEY, **kw: object) -> SendGridProvider:
    """An adapter pointed at the stand-in, polling its jobs without real pauses."""
    options: dict[str, object] = {"poll_interval": 0.01, "sleep": lambda _s: None, **kw}
    return SendGridProvider(key, ["sg-list-1"], base_url=server.base_url, **options)  # type: ignore[arg-type]


def activecampaign(server: ActiveCampaignStandin, key: str = AC_KEY) -> ActiveCampaignProvider:
    """An adapter pointed at the stand-in."""
    return ActiveCampaignProvider(key, list_id="7", base_url=server.base_url)


# ------------------------------------------------------------------------- Mailchimp


def test_mailchimp_connection_ok_and_lists(mc: MailchimpStandin) -> None:
    """GET /ping with Basic auth works; the audiences are listed."""
    provider = mailchimp(mc)
    provider.check_connection()
    assert [(x.id, x.name) for x in provider.list_lists()] == [("L1", "Newsletter")]
    assert mc.calls("GET", "/ping")


def test_mailchimp_bad_key_is_final_and_clear(mc: MailchimpStandin) -> None:
    """A wrong key: one request, a final error naming Mailchimp's reason."""
    with pytest.raises(FinalRemoteError) as caught:
        mailchimp(mc, "ffffffffffffffffffffffffffffffff-us6").check_connection()
    assert caught.value.status == 401
    assert "API Key Invalid" in str(caught.value)
    assert len(mc.calls("GET", "/ping")) == 1


def test_mailchimp_base_url_from_key_datacenter() -> None:
    """The key's -<dc> picks the host; a key without one is refused clearly."""
    provider = MailchimpProvider(MC_KEY, "L1")
    assert str(provider.http.base_url) == "https://us6.api.mailchimp.com/3.0/"
    provider.close()
    with pytest.raises(FinalRemoteError, match="datacenter"):
        MailchimpProvider("nodatacenter", "L1")


def test_mailchimp_batches_of_500(mc: MailchimpStandin) -> None:
    """501 contacts: two batch calls (500 + 1), all stored with FNAME/LNAME."""
    results = mailchimp(mc).upsert_contacts(people(501))
    assert [r.outcome for r in results] == ["ok"] * 501
    sizes = [len(r.body["members"]) for r in mc.calls("POST", "/lists/L1")]
    assert sizes == [500, 1]
    member = mc.member("L1", "person3@example.com")
    assert member is not None
    assert member["merge_fields"] == {"FNAME": "First3", "LNAME": "Last3"}
    assert member["status"] == "subscribed"
    assert results[3].provider_id == md5_lower("person3@example.com")


def test_mailchimp_per_member_errors(mc: MailchimpStandin) -> None:
    """A refused member fails with Mailchimp's message; the others are ok."""
    batch = [*people(2), Contact("not-an-address")]
    results = mailchimp(mc).upsert_contacts(batch)
    assert [r.outcome for r in results] == ["ok", "ok", "failed"]
    assert "looks fake or invalid" in (results[2].message or "")


def test_mailchimp_429_then_success_pushes_once(mc: MailchimpStandin) -> None:
    """A 429 with Retry-After is waited out; each member is written exactly once."""
    mc.fail_next(1, 429, method="POST", path="/lists/L1", retry_after="1")
    results = mailchimp(mc).upsert_contacts(people(3))
    assert [r.outcome for r in results] == ["ok"] * 3
    assert [r.status for r in mc.calls("POST", "/lists/L1")] == [429, 200]
    assert set(mc.writes.values()) == {1}


def test_mailchimp_500s_are_retryable(mc: MailchimpStandin) -> None:
    """Persistent 500s: the batch and the batches after it come back "retry"; nothing written."""
    mc.fail_next(10, 500, method="POST", path="/lists/L1")
    results = MailchimpProvider(MC_KEY, "L1", base_url=mc.base_url, batch_size=2).upsert_contacts(
        people(3)
    )
    assert [r.outcome for r in results] == ["retry"] * 3
    assert "500" in (results[0].message or "")
    assert "not sent" in (results[2].message or "")
    assert len(mc.calls("POST", "/lists/L1")) == 3  # short_retry's attempts, one batch only
    assert not mc.writes
    mc.fail_next(3, 503, path="/ping")
    with pytest.raises(RetryableRemoteError):
        mailchimp(mc).check_connection()


def test_mailchimp_tags_and_single_upsert(mc: MailchimpStandin) -> None:
    """Tags go to …/members/{md5}/tags; PUT …/members/{md5} upserts one member."""
    provider = mailchimp(mc)
    result = provider.upsert_one(Contact("Ann@Example.com", "Ann", "Lee", tags=("buyer",)))
    assert result.outcome == "ok"
    provider.upsert_contacts([Contact("bob@example.com", tags=("lead", "vip"))])
    provider.add_tags("ann@example.com", ["vip"])
    assert mc.member("L1", "ann@example.com")["tags"] == ["buyer", "vip"]  # type: ignore[index]
    assert mc.member("L1", "bob@example.com")["tags"] == ["lead", "vip"]  # type: ignore[index]
    assert mc.calls("PUT", "/members/" + md5_lower("ann@example.com"))


def test_mailchimp_delete_is_permanent(mc: MailchimpStandin) -> None:
    """Erasure uses delete-permanent; a second erasure finds nobody."""
    provider = mailchimp(mc)
    provider.upsert_contacts(people(1))
    assert provider.delete_contact("PERSON0@example.com") is True
    assert mc.deleted == ["person0@example.com"]
    assert mc.member("L1", "person0@example.com") is None
    assert provider.delete_contact("person0@example.com") is False


def test_bad_key_mid_upsert_raises(mc: MailchimpStandin) -> None:
    """Bad credentials during a push raise (the integration is marked), not per contact."""
    with pytest.raises(FinalRemoteError, match="401"):
        mailchimp(mc, "ffffffffffffffffffffffffffffffff-us6").upsert_contacts(people(2))


def test_pacer_waits_when_the_window_is_full() -> None:
    """A third request within a "2/second" window sleeps until a slot frees up."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    pacer = Pacer("2/second", "test-key", sleep=sleep)
    pacer.wait()
    pacer.wait()
    assert not slept
    pacer.wait()
    assert slept


# -------------------------------------------------------------------------- SendGrid


def test_sendgrid_connection_ok_and_lists(sg: SendGridStandin) -> None:
    """GET /v3/scopes with the Bearer key works; lists are listed."""
    provider = sendgrid(sg)
    provider.check_connection()
    assert [(x.id, x.name) for x in provider.list_lists()] == [("sg-list-1", "Buyers")]


def test_sendgrid_bad_key_is_final_and_clear(sg: SendGridStandin) -> None:
    """A wrong key: a final error with SendGrid's message."""
    with pytest.raises(FinalRemoteError) as caught:
        sendgrid(sg, "SG.wrong").check_connection()
    assert caught.value.status == 401
    assert "authorization grant is invalid" in str(caught.value)


def test_sendgrid_batches_of_30000_as_jobs(sg: SendGridStandin) -> None:
    """30,001 contacts: two PUTs (30,000 + 1), each job polled until done; all ok."""
    results = sendgrid(sg).upsert_contacts(people(30_001))
    assert len(results) == 30_001
    assert {r.outcome for r in results} == {"ok"}
    puts = sg.calls("PUT", "/v3/marketing/contacts")
    assert [len(r.body["contacts"]) for r in puts] == [30_000, 1]
    assert puts[0].body["list_ids"] == ["sg-list-1"]
    assert puts[0].body["contacts"][0] == {
        "email": "person0@example.com",
        "first_name": "First0",
        "last_name": "Last0",
    }
    assert len(sg.calls("GET", "/imports/")) == 4  # pending, then done, per job


def test_sendgrid_job_still_running_is_accepted(sg: SendGridStandin) -> None:
    """A job still pending after job_wait: the contacts are accepted, the job named."""
    sg.pending_polls = 100
    results = sendgrid(sg, job_wait=0).upsert_contacts(people(2))
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert "still running" in (results[0].message or "")


def test_sendgrid_per_contact_errors_from_the_job(sg: SendGridStandin) -> None:
    """The job's errors file names the refused contact; the others are ok."""
    results = sendgrid(sg).upsert_contacts([*people(2), Contact("broken@")])
    assert [r.outcome for r in results] == ["ok", "ok", "failed"]
    assert results[2].message == "email is invalid"


def test_sendgrid_429_then_success_pushes_once(sg: SendGridStandin) -> None:
    """A 429 {"errors"} with Retry-After is waited out; one write per contact."""
    sg.fail_next(1, 429, method="PUT", retry_after="1", message="too many requests")
    results = sendgrid(sg).upsert_contacts(people(3))
    assert [r.outcome for r in results] == ["ok"] * 3
    assert [r.status for r in sg.calls("PUT")] == [429, 202]
    assert set(sg.writes.values()) == {1}


def test_sendgrid_500s_are_retryable(sg: SendGridStandin) -> None:
    """Persistent 500s: every contact "retry", with the status in the message."""
    sg.fail_next(10, 500, method="PUT")
    results = sendgrid(sg).upsert_contacts(people(2))
    assert [r.outcome for r in results] == ["retry", "retry"]
    assert "500" in (results[0].message or "")
    assert not sg.writes


def test_sendgrid_exhausted_rate_budget_pauses(sg: SendGridStandin) -> None:
    """X-RateLimit-Remaining: 0 makes the adapter wait for the reset before going on."""
    sg.rate_limit = 1
    pauses: list[float] = []
    sendgrid(sg, sleep=pauses.append).check_connection()
    assert pauses
    assert 0 < pauses[0] <= 60


def test_sendgrid_tags_in_a_custom_field(sg: SendGridStandin) -> None:
    """SendGrid has no tags: they go to the configured text field, comma-separated."""
    provider = sendgrid(sg, tags_field_id="e1_T")
    provider.upsert_contacts([Contact("ann@example.com", tags=("buyer", "vip"))])
    assert sg.contact("ann@example.com")["custom_fields"] == {"e1_T": "buyer,vip"}  # type: ignore[index]
    provider.add_tags("ann@example.com", ["lead"])
    assert sg.contact("ann@example.com")["custom_fields"] == {"e1_T": "lead"}  # type: ignore[index]


def test_sendgrid_delete_by_id(sg: SendGridStandin) -> None:
    """Erasure finds the id by address, then DELETE /v3/marketing/contacts?ids=."""
    provider = sendgrid(sg)
    provider.upsert_contacts(people(2))
    contact_id = sg.contact("person1@example.com")["id"]  # type: ignore[index]
    assert provider.delete_contact("person1@example.com") is True
    assert sg.calls("DELETE")[0].query == {"ids": contact_id}
    assert sg.deleted == ["person1@example.com"]
    assert provider.delete_contact("person1@example.com") is False


# -------------------------------------------------------------------- ActiveCampaign


def test_activecampaign_connection_ok_and_lists(ac: ActiveCampaignStandin) -> None:
    """GET /users/me with Api-Token works; lists are listed."""
    provider = activecampaign(ac)
    provider.check_connection()
    assert [(x.id, x.name) for x in provider.list_lists()] == [("7", "Leads")]


def test_activecampaign_bad_token_is_final_and_clear(ac: ActiveCampaignStandin) -> None:
    """A wrong token: ActiveCampaign's 403, final, with its message."""
    with pytest.raises(FinalRemoteError) as caught:
        activecampaign(ac, "wrong").check_connection()
    assert caught.value.status == 403
    assert "No Result found" in str(caught.value)


def test_activecampaign_sync_one_by_one_with_list_and_fields(ac: ActiveCampaignStandin) -> None:
    """Each contact is one /contact/sync, then subscribed to the list; fields as fieldValues."""
    batch = [Contact("ann@example.com", "Ann", "Lee", fields={"3": "Berlin"}), *people(2)]
    results = activecampaign(ac).upsert_contacts(batch)
    assert [r.outcome for r in results] == ["ok"] * 3
    syncs = ac.calls("POST", "/contact/sync")
    assert [len([s.body["contact"]]) for s in syncs] == [1, 1, 1]
    assert syncs[0].body["contact"] == {
        "email": "ann@example.com",
        "firstName": "Ann",
        "lastName": "Lee",
        "fieldValues": [{"field": "3", "value": "Berlin"}],
    }
    ann = ac.by_email("ann@example.com")
    assert ann is not None
    assert ac.contact_lists[("7", ann["id"])] == 1
    assert results[0].provider_id == ann["id"]


def test_activecampaign_per_contact_errors(ac: ActiveCampaignStandin) -> None:
    """A 422 for one contact fails that contact with ActiveCampaign's words."""
    results = activecampaign(ac).upsert_contacts([Contact("bad@"), *people(1)])
    assert [r.outcome for r in results] == ["failed", "ok"]
    assert "Email Address is not valid" in (results[0].message or "")


def test_activecampaign_429_then_success_pushes_once(ac: ActiveCampaignStandin) -> None:
    """A 429 with Retry-After is waited out; the contact is synced once."""
    ac.fail_next(1, 429, method="POST", path="/contact/sync", retry_after="1")
    results = activecampaign(ac).upsert_contacts(people(2))
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert [r.status for r in ac.calls("POST", "/contact/sync")] == [429, 201, 201]
    assert set(ac.writes.values()) == {1}


def test_activecampaign_500s_are_retryable(ac: ActiveCampaignStandin) -> None:
    """Persistent 500s: the contact and those after it come back "retry"."""
    ac.fail_next(10, 500, path="/contact/sync")
    results = activecampaign(ac).upsert_contacts(people(2))
    assert [r.outcome for r in results] == ["retry", "retry"]
    assert len(ac.calls("POST", "/contact/sync")) == 3
    assert not ac.writes


def test_activecampaign_tags_found_or_created(ac: ActiveCampaignStandin) -> None:
    """A tag is looked up by name (GET /tags?search=), created once, then linked."""
    provider = activecampaign(ac)
    provider.upsert_contacts([Contact("ann@example.com", tags=("buyer",)), *people(1)])
    provider.add_tags("person0@example.com", ["buyer", "vip"])
    assert ac.tags_of("ann@example.com") == {"buyer"}
    assert ac.tags_of("person0@example.com") == {"buyer", "vip"}
    assert sorted(ac.tags.values()) == ["buyer", "vip"]
    assert ac.calls("GET", "/tags")[0].query == {"search": "buyer"}
    with pytest.raises(FinalRemoteError):
        provider.add_tags("nobody@example.com", ["x"])


def test_activecampaign_delete(ac: ActiveCampaignStandin) -> None:
    """Erasure: find by email, DELETE /contacts/{id}."""
    provider = activecampaign(ac)
    provider.upsert_contacts(people(1))
    assert provider.delete_contact("person0@example.com") is True
    assert ac.deleted == ["person0@example.com"]
    assert provider.delete_contact("person0@example.com") is False


# ------------------------------------------------------------------------- credentials


def test_no_credential_in_logs_or_errors(
    mc: MailchimpStandin,
    sg: SendGridStandin,
    ac: ActiveCampaignStandin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Good and bad keys, 429s and 500s: the key is in no log line, message or repr."""
    caplog.set_level(logging.DEBUG)
    bad = {"mc": MC_KEY.replace("0", "9"), "sg": SG_KEY + "x", "ac": AC_KEY + "x"}
    texts: list[str] = []
    for server, key in ((mc, MC_KEY), (sg, SG_KEY), (ac, AC_KEY)):
        server.fail_next(1, 400, message=f"your key {key} is not allowed here")  # echoed
        server.fail_next(1, 429, retry_after="0")
        server.fail_next(3, 500, path="/contact")  # SendGrid and ActiveCampaign upserts
    providers = [
        (mailchimp(mc), mailchimp(mc, bad["mc"])),
        (sendgrid(sg), sendgrid(sg, bad["sg"])),
        (activecampaign(ac), activecampaign(ac, bad["ac"])),
    ]
    for good, wrong in providers:
        for call in (good.check_connection, good.check_connection, wrong.check_connection):
            try:
                call()
            except RemoteError as exc:
                texts.append(str(exc))
        results = good.upsert_contacts([*people(2), Contact("bad@")])
        texts += [r.message or "" for r in results]
        texts += [repr(good), repr(wrong)]
    assert any("401" in t or "403" in t for t in texts)  # the bad keys were refused
    assert sum("[redacted] is not allowed" in t for t in texts) == 3  # echoes scrubbed
    assert caplog.records  # the calls were logged
    everything = caplog.text + "\n".join(texts)
    for secret in (MC_KEY, SG_KEY, AC_KEY, *bad.values()):
        assert secret not in everything
