"""Defaults that fail closed: unset or placeholder Stripe secrets authenticate nothing, database
errors keep their parameters out of logs, rendered pages cannot be framed.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from devtools.stripe_standin.webhooks import sign
from domain.orders.models import StripeEvent
from domain.shared.db import get_engine, unit_of_work
from domain.shared.settings import Settings, get_settings
from tests.support.aio import run_async
from tests.support.funnels import live_checkout, ok
from tests.support.orders import PI_URL

WEBHOOK = "/api/v1/orders/stripe/webhook"
REAL_KEY = "sk_test_51Suite0123456789abcdefABCDEF"
REAL_SECRET = "whsec_0123456789abcdef0123456789abcdef"


@pytest.fixture
def configure(app: Any) -> Iterator[Any]:
    """Override settings for one test (the routes read them through the dependency)."""

    def set_values(**values: Any) -> Settings:
        settings = get_settings().model_copy(update=values)
        app.dependency_overrides[get_settings] = lambda: settings
        return settings

    yield set_values
    app.dependency_overrides.pop(get_settings, None)


# --- Stripe secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_key", "webhook_secret", "missing"),
    [
        ("", "", ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]),
        ("sk_test_placeholder", "whsec_placeholder", ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]),
        ("   ", REAL_SECRET, ["STRIPE_API_KEY"]),
        ("pk_test_51Suite0123456789abcdef", REAL_SECRET, ["STRIPE_API_KEY"]),  # a public key
        ("sk_test_x", REAL_SECRET, ["STRIPE_API_KEY"]),  # too short to be one
        (REAL_KEY, "whsec_change-me-change-me-change-me", ["STRIPE_WEBHOOK_SECRET"]),
        (REAL_KEY, "0123456789abcdef0123456789abcdef", ["STRIPE_WEBHOOK_SECRET"]),
        (REAL_KEY, REAL_SECRET, []),
        ("rk_live_51Suite0123456789abcdefABCDEF", REAL_SECRET, []),
    ],
)
def test_which_stripe_secrets_count_as_set(
    api_key: str, webhook_secret: str, missing: list[str]
) -> None:
    settings = Settings(stripe_api_key=api_key, stripe_webhook_secret=webhook_secret)
    assert settings.missing_payment_settings() == missing


def test_the_shipped_defaults_are_not_configured() -> None:
    shipped = {
        name: Settings.model_fields[name].default
        for name in ("stripe_api_key", "stripe_webhook_secret")
    }
    assert Settings(**shipped).missing_payment_settings() == [
        "STRIPE_API_KEY",
        "STRIPE_WEBHOOK_SECRET",
    ]


@pytest.mark.parametrize("secret", ["", "whsec_placeholder"])
def test_the_webhook_refuses_events_signed_with_a_placeholder_secret(
    client: TestClient, configure: Any, secret: str
) -> None:
    configure(stripe_api_key=REAL_KEY, stripe_webhook_secret=secret)
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_forged", "object": "payment_intent"}},
        }
    )
    r = client.post(
        WEBHOOK,
        content=payload,
        headers={"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"},
    )
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "payments_not_configured"
    assert "STRIPE_WEBHOOK_SECRET" in r.json()["error"]
    with unit_of_work() as session:
        assert session.get(StripeEvent, event_id) is None


def test_checkout_routes_answer_503_until_stripe_is_configured(
    client: TestClient, tenant: Any, standin: Any, configure: Any
) -> None:
    live = live_checkout(client, tenant.headers)
    configure(stripe_api_key="sk_test_placeholder")
    order_id = uuid.uuid4()
    routes = [
        (PI_URL, live["body"]),
        ("/api/v1/orders", {}),
        (f"/api/v1/orders/{order_id}/bumps", {}),
        (f"/api/v1/orders/{order_id}/upsells", {}),
        (f"/api/v1/orders/{order_id}/refunds", {}),
        (f"/api/v1/orders/{order_id}/cancel", {}),
    ]
    for url, body in routes:
        for headers in (tenant.headers, {"X-Publishable-Key": tenant.publishable_key}):
            r = client.post(url, json=body, headers=headers)
            assert r.status_code == 503, (url, r.text)
            assert r.json()["code"] == "payments_not_configured", url
            assert "STRIPE_API_KEY" in r.json()["error"]
    # Reads and everything that does not move money keep working.
    assert client.get("/api/v1/orders", headers=tenant.headers).status_code == 200
    configure(stripe_api_key=REAL_KEY)
    assert client.post(PI_URL, json=live["body"], headers=tenant.headers).status_code == 201


def test_ready_names_the_missing_payment_settings(client: TestClient, configure: Any) -> None:
    configure(stripe_api_key="", stripe_webhook_secret="whsec_placeholder")
    r = client.get("/ready")
    # The rest of the system works without payments: ready, with a warning naming what to set.
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["payments"] == "not configured: STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET"
    assert body["missing"] == ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]
    configure(stripe_api_key=REAL_KEY, stripe_webhook_secret=REAL_SECRET)
    body = ok(client.get("/ready"))
    assert body["checks"]["payments"] == "ok"
    assert body["missing"] == []


# --- database errors ------------------------------------------------------------------------


def test_database_errors_do_not_carry_their_parameters(caplog: pytest.LogCaptureFixture) -> None:
    email = f"private-{uuid.uuid4().hex[:8]}@example.com"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DBAPIError) as raised, get_engine().connect() as connection:
        connection.execute(text("SELECT CAST(:email AS text), 1 / 0"), {"email": email})
    logging.getLogger("test").exception("as the error handler logs it", exc_info=raised.value)
    shown = "".join(traceback.format_exception(raised.value)) + caplog.text
    assert "division by zero" in shown
    assert email not in shown
    assert "hide_parameters" in str(raised.value)


# --- framing --------------------------------------------------------------------------------


def _assert_unframeable(response: Any) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in [part.strip() for part in csp.split(";")]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_previews_and_visitor_pages_cannot_be_framed(client: TestClient, tenant: Any) -> None:
    live = live_checkout(client, tenant.headers)
    page_id = live["order"]["page_id"]
    preview = client.get(f"/api/v1/pages/{page_id}/preview", headers=tenant.headers)
    assert preview.status_code == 200
    _assert_unframeable(preview)
    funnel = live["funnel"]
    visitor = client.get(f"/f/{tenant.slug}/{funnel['slug']}")
    assert visitor.status_code == 200
    _assert_unframeable(visitor)
    step = client.get(f"/f/{tenant.slug}/{funnel['slug']}/{live['order']['slug']}")
    assert step.status_code == 200
    _assert_unframeable(step)
    missing = client.get(f"/f/{tenant.slug}/no-such-funnel")
    assert missing.status_code == 404
    assert missing.headers["X-Frame-Options"] == "DENY"


def test_a_refused_value_is_not_logged_by_the_error_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import DataError

    from api.errors import _data_error

    email = f"private-{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(DataError) as raised, get_engine().connect() as connection:
        connection.execute(text("SELECT CAST(:email AS integer)"), {"email": email})
    assert email in str(raised.value.orig)  # PostgreSQL quotes the value it refused
    caplog.set_level(logging.DEBUG)
    response = run_async(_data_error(None, raised.value))  # type: ignore[arg-type]
    assert response.status_code == 422
    assert "22P02" in caplog.text  # the SQLSTATE says what went wrong
    assert email not in caplog.text
