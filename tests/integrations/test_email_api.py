"""The email-provider integrations' HTTP contract: connect, show, change, disconnect, lists."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from domain.integrations import crypto
from domain.integrations import service as integrations
from domain.integrations.models import Integration
from domain.shared.db import unit_of_work
from domain.shared.settings import Settings, get_settings
from tests.support.email_integrations import (
    AC_KEY,
    KEYS,
    MC_KEY,
    Providers,
    connect,
    running_providers,
    simulated,
)

BASE = "/api/v1/integrations"


@pytest.fixture(scope="module")
def standins() -> Iterator[Providers]:
    """The three provider stand-ins, for the module."""
    with running_providers() as found:
        yield found


@pytest.fixture
def providers(standins: Providers, monkeypatch: pytest.MonkeyPatch) -> Iterator[Providers]:
    """Clean stand-ins the adapters reach (settings point at them); no shape violations."""
    standins.reset()
    for name, value in standins.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield standins
    monkeypatch.undo()
    get_settings.cache_clear()
    assert standins.violations() == []


def _stored(integration_id: str) -> Integration:
    with unit_of_work() as session:
        found = session.get(Integration, uuid.UUID(integration_id))
        assert found is not None
        return found


def test_connect_list_detail_never_show_credentials(client: Any, tenant: Any) -> None:
    """Connected untested; the key is encrypted at rest and never in an answer."""
    out = connect(
        client,
        tenant,
        "mailchimp",
        name="Newsletter",
        settings={
            "list_id": "L1",
            "tags": ["lead"],
            "field_mapping": [{"field": "PHONE", "source": "phone"}],
        },
    )
    assert out["status"] == "untested"
    assert out["settings"]["list_id"] == "L1"
    assert out["settings"]["field_mapping"] == [{"field": "PHONE", "source": "phone"}]
    assert "credentials" not in out
    listed = client.get(BASE, headers=tenant.headers)
    detail = client.get(f"{BASE}/{out['id']}", headers=tenant.headers)
    assert listed.status_code == 200
    assert detail.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [out["id"]]
    for text in (listed.text, detail.text, str(out)):
        assert MC_KEY not in text
        assert MC_KEY[:20] not in text
    stored = _stored(out["id"])
    assert MC_KEY.encode() not in stored.credentials_encrypted
    assert crypto.decrypt(stored.credentials_encrypted) == {"api_key": MC_KEY}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"provider": "hubspot"}, "provider"),
        ({"credentials": {"api_key": "no-datacenter-here-"}}, "api_key"),
        ({"settings": {}}, "list_id"),
        (
            {"settings": {"list_id": "L1", "field_mapping": [{"field": "P", "source": "pw"}]}},
            "source",
        ),
        ({"settings": {"list_id": "L1", "colour": "red"}}, "colour"),
        ({"credentials": {"api_key": 12345678}}, "api_key"),
    ],
)
def test_bad_connect_bodies_are_422_and_store_nothing(
    client: Any, tenant: Any, body: dict[str, Any], fragment: str
) -> None:
    """Unknown provider, a key without its datacenter, no audience, unknown fields: 422."""
    full = {
        "provider": "mailchimp",
        "credentials": {"api_key": MC_KEY},
        "settings": {"list_id": "L1"},
    }
    r = client.post(f"{BASE}/email", json={**full, **body}, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert fragment in r.text
    assert client.get(BASE, headers=tenant.headers).json()["total"] == 0


def test_activecampaign_needs_its_account_name(client: Any, tenant: Any) -> None:
    """No account name: 422; with it: connected."""
    r = client.post(
        f"{BASE}/email",
        json={"provider": "activecampaign", "credentials": {"api_key": AC_KEY}},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert "account" in r.text
    assert connect(client, tenant, "activecampaign")["provider"] == "activecampaign"


def test_patch_settings_credentials_enabled(client: Any, tenant: Any) -> None:
    """Settings sent replace theirs; new credentials make it untested; null refused."""
    out = connect(client, tenant, "sendgrid")
    url = f"{BASE}/{out['id']}"
    r = client.patch(
        url,
        json={"enabled": False, "settings": {"list_id": "x2", "tags": ["vip"]}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False
    assert r.json()["settings"]["tags"] == ["vip"]
    assert r.json()["settings"]["list_id"] == "x2"
    bad = client.patch(url, json={"enabled": None}, headers=tenant.headers)
    assert bad.status_code == 422
    new_key = "SG.another-key.abcdefghijklmnopqrstuvwxyz012345"
    r = client.patch(url, json={"credentials": {"api_key": new_key}}, headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "untested"
    assert new_key not in r.text
    assert crypto.decrypt(_stored(out["id"]).credentials_encrypted)["api_key"] == new_key
    assert client.get(url, headers=tenant.headers).json()["enabled"] is False


def test_patch_keeps_what_was_not_sent(client: Any, tenant: Any) -> None:
    """Tags alone keep the audience; a token alone keeps the ActiveCampaign account; a null
    list is refused and changes nothing."""
    mc = connect(client, tenant, "mailchimp")
    r = client.patch(
        f"{BASE}/{mc['id']}", json={"settings": {"tags": ["x"]}}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["list_id"] == "L1"
    assert r.json()["status"] == "untested"
    r = client.patch(
        f"{BASE}/{mc['id']}", json={"settings": {"list_id": None}}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert client.get(f"{BASE}/{mc['id']}", headers=tenant.headers).json()["settings"] == {
        **mc["settings"],
        "tags": ["x"],
    }
    ac = connect(client, tenant, "activecampaign")
    token = "a" * 64
    r = client.patch(
        f"{BASE}/{ac['id']}", json={"credentials": {"api_key": token}}, headers=tenant.headers
    )
    assert r.status_code == 200
    creds = crypto.decrypt(_stored(ac["id"]).credentials_encrypted)
    assert creds == {"api_key": token, "account": "acme"}


def test_disconnect(client: Any, tenant: Any) -> None:
    """Deleted: 204, then 404."""
    out = connect(client, tenant, "mailchimp")
    assert client.delete(f"{BASE}/{out['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"{BASE}/{out['id']}", headers=tenant.headers).status_code == 404


def test_another_accounts_integration_is_404_everywhere(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    """Every route answers 404 to another account, and nothing changes."""
    out = connect(client, tenant, "mailchimp")
    url = f"{BASE}/{out['id']}"
    h = other_tenant.headers
    answers = [
        client.get(url, headers=h),
        client.patch(url, json={"enabled": False}, headers=h),
        client.post(f"{url}/test", headers=h),
        client.post(f"{url}/sync", headers=h),
        client.get(f"{url}/sync-logs", headers=h),
        client.get(f"{url}/lists", headers=h),
        client.delete(url, headers=h),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(a.json()["code"] == "not_found" for a in answers)
    assert client.get(BASE, headers=h).json()["total"] == 0
    mine = client.get(url, headers=tenant.headers).json()
    assert mine["enabled"] is True
    with unit_of_work() as session:
        assert session.scalar(select(Integration.id).where(Integration.id == uuid.UUID(out["id"])))


def test_ids_are_uuids_so_webhooks_paths_are_never_taken(client: Any, tenant: Any) -> None:
    """`/integrations/webhooks` is not an integration id (the webhooks router owns it)."""
    r = client.get(f"{BASE}/webhooks", headers=tenant.headers)
    assert r.status_code in (200, 404, 405)
    assert "integration_id" not in r.text
    assert client.get(f"{BASE}/{uuid.uuid4()}", headers=tenant.headers).status_code == 404


def test_lists_come_from_the_provider(client: Any, tenant: Any, providers: Providers) -> None:
    """The audiences at Mailchimp; a refused key is a 502 with Mailchimp's words, no key."""
    good = connect(client, tenant, "mailchimp")
    r = client.get(f"{BASE}/{good['id']}/lists", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [{"id": "L1", "name": "Newsletter"}]}
    wrong_key = "ffffffffffffffffffffffffffffffff-us6"
    bad = connect(client, tenant, "mailchimp", credentials={"api_key": wrong_key})
    r = client.get(f"{BASE}/{bad['id']}/lists", headers=tenant.headers)
    assert r.status_code == 502
    assert r.json()["code"] == "provider_error"
    assert "401" in r.json()["error"]
    assert wrong_key not in r.text


def test_sync_of_a_disabled_integration_is_409(client: Any, tenant: Any) -> None:
    """Disabled: nothing is queued."""
    out = connect(client, tenant, "mailchimp", enabled=False)
    r = client.post(f"{BASE}/{out['id']}/sync", headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "integration_disabled"


def test_keys_rotate(monkeypatch: pytest.MonkeyPatch, client: Any, tenant: Any) -> None:
    """A new first key: rotation re-encrypts; afterwards the old key can go."""
    out = connect(client, tenant, "activecampaign")
    old = get_settings().integrations_encryption_keys
    new = "bmV3LWludGVncmF0aW9ucy1rZXktZm9yLXRlc3RzLTE="
    monkeypatch.setenv("INTEGRATIONS_ENCRYPTION_KEYS", f"{new},{old}")
    get_settings.cache_clear()
    try:
        with unit_of_work() as session:
            assert integrations.rotate_credentials(session) >= 1
        monkeypatch.setenv("INTEGRATIONS_ENCRYPTION_KEYS", new)
        get_settings.cache_clear()
        creds = crypto.decrypt(_stored(out["id"]).credentials_encrypted)
        assert creds == {"api_key": AC_KEY, "account": "acme"}
        monkeypatch.setenv(
            "INTEGRATIONS_ENCRYPTION_KEYS", "b3RoZXIta2V5LW5vdC10aGUtb25lLXVzZWQtYWJjZGU="
        )
        get_settings.cache_clear()
        with pytest.raises(crypto.CredentialsUnreadable):
            crypto.decrypt(_stored(out["id"]).credentials_encrypted)
    finally:
        # Back under the development key: a later rotation reads every row of the database.
        monkeypatch.setenv("INTEGRATIONS_ENCRYPTION_KEYS", f"{old},{new}")
        get_settings.cache_clear()
        with unit_of_work() as session:
            integrations.rotate_credentials(session)
        monkeypatch.undo()
        get_settings.cache_clear()


def test_production_refuses_the_development_key() -> None:
    """Like SECRET_KEY: the published default never encrypts production credentials."""
    real = {"environment": "production", "secret_key": "s" * 40}
    with pytest.raises(ValueError, match="INTEGRATIONS_ENCRYPTION_KEYS"):
        Settings(**real)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Fernet"):
        Settings(integrations_encryption_keys="not-a-key")
    Settings(**real, integrations_encryption_keys="bmV3LWludGVncmF0aW9ucy1rZXktZm9yLXRlc3RzLTE=")  # type: ignore[arg-type]


def test_credentials_never_in_logs(
    client: Any,
    tenant: Any,
    providers: Providers,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every route with every provider, at DEBUG: no key in a log line or the output."""
    caplog.set_level(logging.DEBUG)
    with simulated(providers, tenant.account_id) as sim:
        for provider in ("mailchimp", "sendgrid", "activecampaign"):
            out = connect(client, tenant, provider)
            url = f"{BASE}/{out['id']}"
            client.get(url, headers=tenant.headers)
            client.get(f"{url}/lists", headers=tenant.headers)
            client.patch(url, json={"name": "renamed"}, headers=tenant.headers)
            client.post(f"{url}/test", headers=tenant.headers)
        wrong = connect(client, tenant, "mailchimp", credentials={"api_key": "e" * 32 + "-us6"})
        client.get(f"{BASE}/{wrong['id']}/lists", headers=tenant.headers)
        client.post(f"{BASE}/{wrong['id']}/test", headers=tenant.headers)
        sim.run_due()
    statuses = [i["status"] for i in client.get(BASE, headers=tenant.headers).json()["items"]]
    assert sorted(statuses) == ["connected", "connected", "connected", "failed"]
    captured = capfd.readouterr()
    text = caplog.text + captured.out + captured.err
    assert "mailchimp GET /lists" in caplog.text  # the adapters did log their calls
    for key in (*KEYS, "e" * 32):
        assert key not in text
