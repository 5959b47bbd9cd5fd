"""What visitors post: opt-ins (CSRF, bots, bad input), the order cookie, one-click offers."""

from __future__ import annotations

import html
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.contacts.models import Contact
from domain.shared.db import unit_of_work
from domain.shared.events import DomainEvent
from tests.support.funnels import ok
from tests.support.orders import settle
from tests.support.visitors import live_template, set_cookies, step_url

ORIGIN = {"Origin": "http://testserver"}


def _contacts(account_id: uuid.UUID) -> list[Contact]:
    with unit_of_work() as session:
        return list(session.scalars(select(Contact).where(Contact.account_id == account_id)))


def _opt_ins(account_id: uuid.UUID) -> list[dict[str, Any]]:
    with unit_of_work() as session:
        rows = session.scalars(
            select(DomainEvent.payload).where(
                DomainEvent.account_id == account_id, DomainEvent.type == "contact.opted_in"
            )
        )
        return [dict(r) for r in rows]


def _optin_page(client: Any, tenant: Any) -> tuple[dict[str, Any], str]:
    live = live_template(client, tenant.headers, "lead-magnet")
    url = step_url(tenant.slug, live, "optin")
    assert client.get(url).status_code == 200
    return live, url


def test_an_opt_in_records_the_contact_its_consent_and_the_visit(client: Any, tenant: Any) -> None:
    live, url = _optin_page(client, tenant)
    form = {
        "email": "Jane@Example.com",
        "first_name": "Jane",
        "marketing_consent": "yes",
        "csrf_token": client.cookies.get("fp_csrf"),
        "fp_website": "",
    }
    r = client.post(f"{url}/optin", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == step_url(tenant.slug, live, "thank-you")
    [contact] = _contacts(tenant.account_id)
    assert (contact.email, contact.first_name, contact.marketing_consent) == (
        "jane@example.com",
        "Jane",
        True,
    )
    assert contact.visitor_id == client.cookies.get("visitor_id")
    [event] = _opt_ins(tenant.account_id)
    assert event == {
        "contact_id": str(contact.id),
        "funnel_id": live["funnel"]["id"],
        "step_id": live["steps"]["optin"]["id"],
        "email_consent": True,
        "visitor_id": client.cookies.get("visitor_id"),
        "session_id": client.cookies.get("session_id"),
    }


def test_bad_input_shows_the_page_again_with_what_was_typed(client: Any, tenant: Any) -> None:
    _, url = _optin_page(client, tenant)
    form = {
        "email": "not-an-email",
        "first_name": 'Jane "<b>',
        "csrf_token": client.cookies.get("fp_csrf"),
    }
    r = client.post(f"{url}/optin", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 422
    assert "Enter a valid email address" in r.text
    assert 'value="not-an-email"' in r.text
    assert 'value="Jane &#34;&lt;b&gt;"' in r.text
    assert r.headers["cache-control"] == "private, no-store"
    assert "etag" not in r.headers
    too_long = {**form, "email": "a@example.com", "first_name": "x" * 101}
    r = client.post(f"{url}/optin", data=too_long, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 422
    assert "First name is too long" in r.text
    assert _contacts(tenant.account_id) == []
    assert _opt_ins(tenant.account_id) == []


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, ORIGIN),  # no token
        ("forged" * 8, ORIGIN),  # a token that is not the cookie's
        ("cookie", {"Origin": "https://evil.example"}),  # another site's page
        ("cookie", {}),  # neither Origin nor Referer
    ],
)
def test_cross_site_posts_are_refused(
    client: Any, tenant: Any, token: str | None, headers: dict[str, str]
) -> None:
    _, url = _optin_page(client, tenant)
    form = {"email": "jane@example.com"}
    if token:
        form["csrf_token"] = client.cookies.get("fp_csrf") if token == "cookie" else token
    r = client.post(f"{url}/optin", data=form, headers=headers, follow_redirects=False)
    assert r.status_code == 403
    assert _contacts(tenant.account_id) == []
    assert _opt_ins(tenant.account_id) == []


def test_a_filled_honeypot_looks_accepted_and_stores_nothing(client: Any, tenant: Any) -> None:
    _, url = _optin_page(client, tenant)
    form = {
        "email": "bot@example.com",
        "fp_website": "http://spam",
        "csrf_token": client.cookies.get("fp_csrf"),
    }
    r = client.post(f"{url}/optin", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert _contacts(tenant.account_id) == []
    assert _opt_ins(tenant.account_id) == []


def test_opt_ins_are_limited_per_address(
    client: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.shared.settings import get_settings

    _, url = _optin_page(client, tenant)
    # A window length of this run's own: its counter key is fresh even when run twice at once.
    monkeypatch.setenv("RATE_LIMIT_OPTIN", f"2/{uuid.uuid4().int % 5000 + 600} seconds")
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "true")
    get_settings.cache_clear()
    try:
        token = client.cookies.get("fp_csrf")
        codes = [
            client.post(
                f"{url}/optin",
                data={"email": f"p{i}@example.com", "csrf_token": token},
                headers=ORIGIN,
                follow_redirects=False,
            )
            for i in range(3)
        ]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert [r.status_code for r in codes] == [303, 303, 429]
    assert "Too many attempts" in codes[2].text
    assert int(codes[2].headers["retry-after"]) >= 1
    assert 'value="p2@example.com"' in codes[2].text
    assert len(_contacts(tenant.account_id)) == 2


def _buy(client: Any, tenant: Any, live: dict[str, Any], standin: Any) -> dict[str, Any]:
    """A checkout through the API as the order page's script does it (publishable key)."""
    key = {"X-Publishable-Key": tenant.publishable_key}
    cart = {"funnel_id": live["funnel"]["id"], "step_id": live["steps"]["offer"]["id"]}
    cart["visitor_id"] = client.cookies.get("visitor_id")
    intent = ok(client.post("/api/v1/orders/payment-intent", json=cart, headers=key), 201)
    body = {
        **cart,
        "payment_intent_id": intent["payment_intent_id"],
        "customer": {"email": "buyer@example.com", "first_name": "Bo"},
    }
    order = ok(client.post("/api/v1/orders", json=body, headers=key), 202)
    standin.confirm_as_browser(order["payment_intent_id"])
    return order  # type: ignore[no-any-return]


def test_one_click_offers_use_the_order_cookie(client: Any, tenant: Any, standin: Any) -> None:
    live = live_template(client, tenant.headers, "tripwire")
    offer_url = step_url(tenant.slug, live, "offer")
    client.get(offer_url)
    token = client.cookies.get("fp_csrf")
    order = _buy(client, tenant, live, standin)
    keep = {"csrf_token": token, "order_id": order["id"], "customer_token": "wrong"}
    assert client.post(f"{offer_url}/customer", data=keep, headers=ORIGIN).status_code == 403
    keep["customer_token"] = order["customer_token"]
    r = client.post(f"{offer_url}/customer", data=keep, headers=ORIGIN)
    assert r.status_code == 204
    line = set_cookies(r)["fp_order"].lower()
    assert "httponly" in line
    assert f"path=/f/{tenant.slug}/" in line
    assert "samesite=lax" in line
    assert settle(order["id"]) == {"status": "paid"}
    upsell = step_url(tenant.slug, live, "upsell")
    no = client.post(
        f"{upsell}/offer",
        data={"decision": "decline", "csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert no.status_code == 303
    assert no.headers["location"] == step_url(tenant.slug, live, "downsell")
    downsell = step_url(tenant.slug, live, "downsell")
    yes = client.post(
        f"{downsell}/offer",
        data={"decision": "accept", "csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert yes.status_code == 303
    assert yes.headers["location"] == step_url(tenant.slug, live, "thank-you")
    detail = ok(client.get(f"/api/v1/orders/{order['id']}", headers=tenant.headers))
    assert sorted((u["offer_type"], u["decision"]) for u in detail["upsells"]) == [
        ("downsell", "accepted"),
        ("upsell", "declined"),
    ]
    thanks = client.get(step_url(tenant.slug, live, "thank-you"))
    assert f"Your order #{order['number']}" in thanks.text
    # The accepted downsell is listed, charged already (a suite worker may be quick) or
    # marked "(being charged)".
    product = next(u["product_id"] for u in detail["upsells"] if u["offer_type"] == "downsell")
    name = ok(client.get(f"/api/v1/products/{product}", headers=tenant.headers))["name"]
    assert html.escape(name) in thanks.text
    assert thanks.headers["cache-control"] == "private, no-store"
    # Without the order cookie "yes" charges nothing.
    client.cookies.delete("fp_order", path=f"/f/{tenant.slug}/")
    again = client.post(
        f"{upsell}/offer",
        data={"decision": "accept", "csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert again.status_code == 409
    with unit_of_work() as session:
        from domain.orders.models import OrderUpsell

        count = session.scalar(
            select(func.count())
            .select_from(OrderUpsell)
            .where(OrderUpsell.order_id == uuid.UUID(order["id"]))
        )
    assert count == 2
