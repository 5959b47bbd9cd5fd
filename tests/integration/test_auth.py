"""Registration, login, refresh rotation and reuse detection, logout, /me, keys."""

from __future__ import annotations

import uuid
from typing import Any

from freezegun import freeze_time
from sqlalchemy import func, select

from domain.accounts.models import Account, User
from domain.shared.db import unit_of_work


def test_register_answers_tokens_and_me_shows_account(client: Any, tenant: Any) -> None:
    r = client.get("/api/v1/auth/me", headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["email"] == tenant.email
    assert body["account"]["id"] == str(tenant.account_id)
    assert body["publishable_key"].startswith("pk_")
    assert "password_hash" not in r.text


def test_register_twice_with_same_email_is_409_and_creates_nothing(
    client: Any, tenant: Any
) -> None:
    name = f"Second {uuid.uuid4().hex}"
    r = client.post(
        "/api/v1/auth/register",
        json={"email": tenant.email.upper(), "password": "another password", "account_name": name},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "email_taken"
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).where(Account.name == name)) == 0
        users = session.scalars(select(User).where(func.lower(User.email) == tenant.email)).all()
    assert [u.account_id for u in users] == [tenant.account_id]
    # The first registration is untouched: its password still logs in, the second does not.
    login = {"email": tenant.email, "password": tenant.password}
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    login["password"] = "another password"
    assert client.post("/api/v1/auth/login", json=login).status_code == 401


def test_login_with_wrong_password_is_401(client: Any, tenant: Any) -> None:
    r = client.post("/api/v1/auth/login", json={"email": tenant.email, "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid email or password", "code": "invalid_credentials"}
    r = client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope-nope"}
    )
    assert r.status_code == 401


def test_login_then_refresh_rotates_and_reuse_revokes_the_family(client: Any, tenant: Any) -> None:
    login = client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": tenant.password}
    )
    assert login.status_code == 200
    first = login.json()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200

    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    # The whole family is gone: the newest refresh token and its access token too.
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 401
    # Other logins of the same user are untouched.
    assert client.get("/api/v1/auth/me", headers=tenant.headers).status_code == 200


def test_logout_revokes_refresh_and_access_tokens(client: Any, tenant: Any) -> None:
    r = client.post("/api/v1/auth/logout", json={"refresh_token": tenant.refresh_token})
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me", headers=tenant.headers).status_code == 401
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert r.status_code == 401


def test_access_token_expires(client: Any, tenant: Any) -> None:
    with freeze_time("2030-01-01"):
        r = client.get("/api/v1/auth/me", headers=tenant.headers)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


def test_garbage_tokens_are_401(client: Any) -> None:
    for value in ("Bearer nonsense", "Bearer fk_unknown", "Basic abc", "Bearer "):
        r = client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert set(r.json()) >= {"error", "code"}


def test_rotate_publishable_key(client: Any, tenant: Any) -> None:
    r = client.post("/api/v1/auth/publishable-key/rotate", headers=tenant.headers)
    assert r.status_code == 200
    new_key = r.json()["publishable_key"]
    assert new_key.startswith("pk_")
    assert new_key != tenant.publishable_key
    assert (
        client.get("/api/v1/auth/me", headers=tenant.headers).json()["publishable_key"] == new_key
    )


def test_api_keys_shown_once_stored_hashed_and_revocable(client: Any, tenant: Any, db: Any) -> None:
    from sqlalchemy import select

    from domain.accounts.models import ApiKey

    r = client.post("/api/v1/api-keys", json={"name": "backend"}, headers=tenant.headers)
    assert r.status_code == 201
    created = r.json()
    secret = created["key"]
    assert secret.startswith("fk_")
    stored = db.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    assert stored is not None
    assert secret not in (stored.key_hash, stored.prefix)

    listed = client.get("/api/v1/api-keys", headers=tenant.headers).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]

    key_headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/products", headers=key_headers).status_code == 200
    # API keys manage resources, not the account's credentials.
    assert client.get("/api/v1/auth/me", headers=key_headers).status_code == 403
    assert (
        client.post("/api/v1/api-keys", json={"name": "x"}, headers=key_headers).status_code == 403
    )

    assert (
        client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers).status_code
        == 204
    )
    assert client.get("/api/v1/products", headers=key_headers).status_code == 401


def test_secret_key_default_refused_outside_development() -> None:
    import pytest
    from pydantic import ValidationError

    from domain.shared.settings import DEFAULT_SECRET_KEY, Settings

    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEFAULT_SECRET_KEY)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="development", secret_key=DEFAULT_SECRET_KEY)


def test_another_accounts_api_key_is_404(client: Any, tenant: Any, other_tenant: Any) -> None:
    from tests.support.tenancy import assert_isolated

    created = client.post("/api/v1/api-keys", json={"name": "mine"}, headers=tenant.headers).json()
    assert_isolated(
        client,
        other_tenant.headers,
        [("DELETE", f"/api/v1/api-keys/{created['id']}", None)],
        snapshot=lambda: client.get("/api/v1/api-keys", headers=tenant.headers).json(),
    )
    assert client.get("/api/v1/api-keys", headers=other_tenant.headers).json()["total"] == 0
