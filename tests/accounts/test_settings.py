"""GET/PATCH /api/v1/account: settings, validation, versions, tenancy, who may change them."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from domain.accounts import service as accounts
from domain.shared.db import unit_of_work

URL = "/api/v1/account"


def _api_key(client: Any, tenant: Any) -> dict[str, str]:
    r = client.post("/api/v1/api-keys", json={"name": "server"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


def test_defaults_then_a_change_bumps_the_version(client: Any, tenant: Any) -> None:
    r = client.get(URL, headers=tenant.headers)
    assert r.status_code == 200, r.text
    before = r.json()
    assert before["id"] == str(tenant.account_id)
    assert (before["name"], before["timezone"], before["require_tracking_consent"]) == (
        "Acme",
        "UTC",
        False,
    )
    assert before["version"] == 1

    r = client.patch(
        URL,
        json={"name": "Acme GmbH", "timezone": "Europe/Berlin", "require_tracking_consent": True},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert (after["name"], after["timezone"], after["require_tracking_consent"]) == (
        "Acme GmbH",
        "Europe/Berlin",
        True,
    )
    assert after["version"] == 2
    assert after["slug"] == before["slug"]  # public URLs never move with the name
    assert client.get(URL, headers=tenant.headers).json() == after

    # the same values again are no edit: the version stays
    r = client.patch(URL, json={"timezone": "Europe/Berlin"}, headers=tenant.headers)
    assert r.json()["version"] == 2

    me = client.get("/api/v1/auth/me", headers=tenant.headers).json()
    assert (me["account"]["timezone"], me["account"]["require_tracking_consent"]) == (
        "Europe/Berlin",
        True,
    )


def test_other_contexts_read_the_zone_through_the_service(client: Any, tenant: Any) -> None:
    client.patch(URL, json={"timezone": "America/New_York"}, headers=tenant.headers)
    with unit_of_work() as session:
        settings = accounts.settings_of(session, tenant.account_id)
    assert settings.timezone == "America/New_York"
    assert settings.zone == ZoneInfo("America/New_York")
    assert settings.require_tracking_consent is False


BAD_BODIES: list[tuple[dict[str, Any], str | None]] = [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "europe/berlin"}, "timezone"),  # names are case-sensitive
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": "localtime"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": "x" * 65}, "timezone"),
    ({"timezone": None}, None),  # may not be null (the model-level check)
    ({"require_tracking_consent": "yes"}, "require_tracking_consent"),
    ({"name": ""}, "name"),
    ({"version": 0}, "version"),
    ({"slug": "new-slug"}, "slug"),  # unknown field
]


def test_bad_settings_are_422_naming_the_field_and_change_nothing(client: Any, tenant: Any) -> None:
    before = client.get(URL, headers=tenant.headers).json()
    for body, field in BAD_BODIES:
        r = client.patch(URL, json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)
        err = r.json()
        assert err["code"] == "validation_error"
        if field is not None:
            assert ["body", field] in [d["loc"][:2] for d in err["details"]], (body, err)
    assert client.get(URL, headers=tenant.headers).json() == before


def test_a_stale_version_is_409_and_changes_nothing(client: Any, tenant: Any) -> None:
    client.patch(URL, json={"name": "First edit"}, headers=tenant.headers)  # now version 2
    for kwargs in (
        {"json": {"name": "Lost update", "version": 1}},
        {"json": {"name": "Lost update"}, "headers": {"If-Match": '"1"'}},
    ):
        headers = {**tenant.headers, **kwargs.pop("headers", {})}
        r = client.patch(URL, headers=headers, **kwargs)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "version_conflict"
        assert r.json()["details"] == [{"expected_version": 1, "current_version": 2}]
    current = client.get(URL, headers=tenant.headers).json()
    assert (current["name"], current["version"]) == ("First edit", 2)

    r = client.patch(URL, json={"name": "Second edit"}, headers={**tenant.headers, "If-Match": "2"})
    assert (r.status_code, r.json()["version"]) == (200, 3)


def test_another_account_neither_sees_nor_changes_these_settings(
    client: Any, tenant: Any, other_tenant: Any
) -> None:
    client.patch(URL, json={"timezone": "Asia/Tokyo"}, headers=tenant.headers)
    before = client.get(URL, headers=tenant.headers).json()

    theirs = client.get(URL, headers=other_tenant.headers).json()
    assert theirs["id"] == str(other_tenant.account_id)
    assert theirs["timezone"] == "UTC"
    r = client.patch(
        URL, json={"timezone": "Europe/Paris", "version": 1}, headers=other_tenant.headers
    )
    assert r.status_code == 200, r.text

    assert client.get(URL, headers=tenant.headers).json() == before


def test_api_keys_read_settings_but_only_a_user_changes_them(client: Any, tenant: Any) -> None:
    key = _api_key(client, tenant)
    r = client.get(URL, headers=key)
    assert (r.status_code, r.json()["id"]) == (200, str(tenant.account_id))
    r = client.patch(URL, json={"timezone": "Europe/Berlin"}, headers=key)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "user_token_required"
    assert client.get(URL, headers=tenant.headers).json()["timezone"] == "UTC"
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers={"X-Publishable-Key": tenant.publishable_key}).status_code == 401


def test_the_openapi_document_describes_the_settings(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    patch = spec["paths"][URL]["patch"]
    assert {"200", "403", "409", "422"} <= set(patch["responses"])
    body = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(spec["components"]["schemas"][body]["properties"]) == {
        "name",
        "timezone",
        "require_tracking_consent",
        "version",
    }
    assert "/metrics" not in spec["paths"]
