"""Routes #60-#65 and the test and recover routes: contract, tenant isolation, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from domain.integrations import crypto
from domain.integrations.webhooks.models import Webhook, WebhookDelivery
from domain.shared.db import unit_of_work
from domain.shared.settings import get_settings
from tests.support.jobs import load_job
from tests.support.tenancy import assert_isolated

BASE = "/api/v1/integrations/webhooks"
# A public address literal: passes the SSRF check without DNS; nothing here connects to it.
PUBLIC_URL = "https://8.8.8.8/hooks/funnels"
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")


def _create(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"url": PUBLIC_URL, "event_types": ["order.paid"], **fields}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _count(account_id: uuid.UUID) -> int:
    with unit_of_work() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Webhook).where(Webhook.account_id == account_id)
            )
            or 0
        )


def test_create_returns_the_secret_once_and_never_again(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers, event_types=["order.paid", "contact.created"])
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    assert created["event_types"] == ["order.paid", "contact.created"]
    assert created["health"]["success_rate_24h"] is None
    listed = client.get(BASE, headers=tenant.headers).json()
    assert listed["total"] == 1
    one = client.get(f"{BASE}/{created['id']}", headers=tenant.headers).json()
    patched = client.patch(
        f"{BASE}/{created['id']}", json={"description": "crm"}, headers=tenant.headers
    ).json()
    for answer in (listed, one, patched):
        assert created["secret"] not in str(answer)
        assert "secret" not in (answer.get("items") or [answer])[0]


def test_rotation_answers_a_new_secret(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers)
    r = client.patch(
        f"{BASE}/{created['id']}", json={"rotate_secret": True}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["secret_rotated_at"] is not None
    with unit_of_work() as session:
        row = session.get(Webhook, uuid.UUID(created["id"]))
        assert row is not None
        # Stored encrypted, readable only with the configured keys.
        assert "whsec_" not in row.secret + (row.previous_secret or "")
        stored = (crypto.decrypt_text(row.secret), crypto.decrypt_text(row.previous_secret or ""))
        assert stored == (rotated["secret"], created["secret"])


def test_the_rotate_command_re_encrypts_webhook_secrets(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new first key, `python -m domain.integrations.crypto rotate`, then the old key can go."""
    created = _create(client, tenant.headers)
    rotated = client.patch(
        f"{BASE}/{created['id']}", json={"rotate_secret": True}, headers=tenant.headers
    ).json()
    old = get_settings().integrations_encryption_keys
    new = Fernet.generate_key().decode()

    def use(keys: str) -> None:
        monkeypatch.setenv("INTEGRATIONS_ENCRYPTION_KEYS", keys)
        get_settings.cache_clear()

    def stored() -> tuple[str, str]:
        with unit_of_work() as session:
            row = session.get(Webhook, uuid.UUID(created["id"]))
            assert row is not None
            return crypto.decrypt_text(row.secret), crypto.decrypt_text(row.previous_secret or "")

    try:
        use(f"{new},{old}")
        assert crypto.main(["rotate"]) == 0
        assert "webhooks' secrets" in capsys.readouterr().out
        use(new)  # the old key is gone: both secrets still read
        assert stored() == (rotated["secret"], created["secret"])
        use(old)
        with pytest.raises(crypto.CredentialsUnreadable):
            stored()
    finally:
        use(f"{old},{new}")  # back under the development key for the tests that follow
        assert crypto.main(["rotate"]) == 0
        monkeypatch.undo()
        get_settings.cache_clear()
    assert crypto.main(["other"]) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": PUBLIC_URL, "event_types": ["order.nope"]}, "unknown_event_type"),
        ({"url": PUBLIC_URL, "event_types": []}, "validation_error"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["order.paid"]}, "unsafe_url"),
        ({"url": "https://169.254.169.254/latest", "event_types": ["order.paid"]}, "unsafe_url"),
        ({"url": "https://[::ffff:10.0.0.1]/", "event_types": ["order.paid"]}, "unsafe_url"),
        ({"url": "not a url", "event_types": ["order.paid"]}, "unsafe_url"),
        ({"url": PUBLIC_URL, "event_types": ["order.paid"], "secret": "x"}, "validation_error"),
    ],
)
def test_bad_input_is_422_and_saves_nothing(
    client: Any, tenant: Any, body: dict[str, Any], code: str
) -> None:
    r = client.post(BASE, json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert _count(tenant.account_id) == 0


def test_unknown_event_type_names_the_field(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers)
    r = client.patch(
        f"{BASE}/{created['id']}",
        json={"event_types": ["order.paid", "nope"]},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert r.json()["details"][0]["loc"] == ["event_types", 1]
    after = client.get(f"{BASE}/{created['id']}", headers=tenant.headers).json()
    assert after["event_types"] == ["order.paid"]


def test_unsafe_url_on_patch_changes_nothing(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers)
    r = client.patch(
        f"{BASE}/{created['id']}", json={"url": "https://10.1.2.3/"}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert r.json()["code"] == "unsafe_url"
    assert client.get(f"{BASE}/{created['id']}", headers=tenant.headers).json()["url"] == PUBLIC_URL


def test_api_keys_may_not_manage_webhooks(client: Any, tenant: Any) -> None:
    r = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    key_headers = {"Authorization": f"Bearer {r.json()['key']}"}
    assert client.get(BASE, headers=key_headers).status_code == 403


def test_another_account_gets_404_and_changes_nothing(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    created = _create(client, tenant.headers)
    path = f"{BASE}/{created['id']}"
    with unit_of_work() as session:
        delivery = WebhookDelivery(
            account_id=tenant.account_id,
            webhook_id=uuid.UUID(created["id"]),
            event_id=None,
            event_type="webhook.test",
            body="{}",
            status="failed",
            attempts=8,
        )
        session.add(delivery)
    requests = [
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("PATCH", path, {"rotate_secret": True}),
        ("DELETE", path, None),
        ("GET", f"{path}/deliveries", None),
        ("POST", f"{path}/deliveries/{delivery.id}/redeliver", None),
        ("POST", f"{path}/test", None),
        ("POST", f"{path}/recover", {"since": YESTERDAY}),
    ]

    def snapshot() -> Any:
        return (
            client.get(path, headers=tenant.headers).json(),
            client.get(f"{path}/deliveries", headers=tenant.headers).json(),
        )

    assert_isolated(client, other_tenant.headers, requests, snapshot)
    assert client.get(BASE, headers=other_tenant.headers).json()["total"] == 0


def test_disable_enable_and_delete(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers)
    path = f"{BASE}/{created['id']}"
    off = client.patch(path, json={"enabled": False}, headers=tenant.headers).json()
    assert off["enabled"] is False
    assert off["disabled_reason"] == "disabled by the account"
    r = client.post(f"{path}/test", headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "webhook_disabled"
    on = client.patch(path, json={"enabled": True}, headers=tenant.headers).json()
    assert on["enabled"] is True
    assert on["disabled_at"] is None
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert client.get(path, headers=tenant.headers).status_code == 404
    assert _count(tenant.account_id) == 0


def test_test_and_recover_answer_202_with_a_job(client: Any, tenant: Any) -> None:
    created = _create(client, tenant.headers)
    path = f"{BASE}/{created['id']}"
    r = client.post(f"{path}/test", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/api/v1/jobs/{r.json()['job_id']}"
    job = load_job(uuid.UUID(r.json()["job_id"]))
    assert (job.task, job.queue) == ("webhooks.send_test", "webhooks")
    assert job.status in ("queued", "running", "succeeded", "failed")  # a suite worker may be quick

    r = client.post(f"{path}/recover", json={"since": YESTERDAY}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert load_job(uuid.UUID(r.json()["job_id"])).task == "webhooks.recover"


@pytest.mark.parametrize(
    "body",
    [
        {"since": "2020-01-01T00:00:00Z"},  # further back than 14 days
        {"since": YESTERDAY, "until": "2020-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {},
    ],
)
def test_recover_range_is_bounded(client: Any, tenant: Any, body: dict[str, Any]) -> None:
    created = _create(client, tenant.headers)
    r = client.post(f"{BASE}/{created['id']}/recover", json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
