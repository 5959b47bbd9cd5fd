"""Published pages as visitors get them: cookies, consent, offers with prices, ETag, CSP."""

from __future__ import annotations

import re
from typing import Any

from tests.support.funnels import ok
from tests.support.visitors import context_of, live_template, set_cookies, step_url


def test_a_page_view_sets_first_party_ids_and_revalidates_by_etag(client: Any, tenant: Any) -> None:
    live = live_template(client, tenant.headers, "lead-magnet")
    url = step_url(tenant.slug, live, "optin")
    first = client.get(url)
    assert first.status_code == 200
    cookies = set_cookies(first)
    for name in ("visitor_id", "session_id", "fp_csrf"):
        line = cookies[name].lower()
        assert "path=/f/" in line, line
        assert "samesite=lax" in line, line
        assert "httponly" not in line, line
        assert "secure" not in line  # plain http here; https adds Secure
    assert "max-age=1800" in cookies["session_id"].lower()
    assert "max-age=31536000" in cookies["visitor_id"].lower()
    visitor = client.cookies.get("visitor_id")
    assert re.fullmatch(r"v_[0-9a-f]{32}", visitor)
    assert first.headers["cache-control"] == "private, no-cache"
    etag = first.headers["etag"]
    # The same browser again: 304, and the session cookie renewed with the same ids.
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert f"session_id={client.cookies.get('session_id')}" in set_cookies(again)["session_id"]
    assert client.cookies.get("visitor_id") == visitor
    # Another visitor gets the same page (ids live in cookies, not in the HTML): same ETag.
    client.cookies.clear()
    other = client.get(url)
    assert other.headers["etag"] == etag
    assert "Vary" not in other.headers
    assert client.cookies.get("visitor_id") != visitor


def test_an_optin_page_is_wired_and_tracked_by_our_script_only(client: Any, tenant: Any) -> None:
    live = live_template(client, tenant.headers, "lead-magnet")
    page = client.get(step_url(tenant.slug, live, "optin"))
    html = page.text
    assert f'action="{step_url(tenant.slug, live, "optin")}/optin"' in html
    assert 'name="csrf_token"' in html
    assert 'name="fp_website"' in html
    assert 'name="marketing_consent"' in html
    ctx = context_of(html)
    step = live["steps"]["optin"]
    assert ctx["funnel_id"] == live["funnel"]["id"]
    assert ctx["step_id"] == step["id"]
    assert ctx["page_id"] == step["page_id"]
    assert ctx["key"] == tenant.publishable_key
    assert ctx["track_url"] == "/api/v1/analytics/track"
    assert "checkout" not in ctx
    assert '<script src="/f/_assets/visitor.js" defer></script>' in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp
    assert "http://testserver/f/_assets/" in csp
    assert "js.stripe.com" not in csp  # Stripe.js only on order forms
    script = client.get("/f/_assets/visitor.js")
    assert script.status_code == 200
    assert "sendBeacon" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/f/_assets/other.js").status_code == 404


def test_offers_show_what_they_charge(client: Any, tenant: Any) -> None:
    live = live_template(client, tenant.headers, "sales-page")
    order = client.get(step_url(tenant.slug, live, "order"))
    html = order.text
    assert "The Course" in html
    assert "97.00 USD" in html
    assert "Yes, add Workbook for 19.00 USD" in html
    assert 'data-bump-cents="1900"' in html
    assert re.search(r"data-order-total[^>]*>97.00 USD<", html)
    ctx = context_of(html)
    assert ctx["checkout"]["next_url"] == step_url(tenant.slug, live, "upsell")
    assert ctx["checkout"]["currency"] == "USD"
    assert "/f/_assets/checkout.js" in html
    assert "https://js.stripe.com" in order.headers["content-security-policy"]
    upsell = client.get(step_url(tenant.slug, live, "upsell")).text
    assert "<strong>Coaching call</strong>: 197.00 USD" in upsell
    assert f'action="{step_url(tenant.slug, live, "upsell")}/offer"' in upsell
    assert 'value="accept"' in upsell
    assert 'value="decline"' in upsell
    assert 'href="#accept"' not in upsell


def test_a_price_change_changes_the_etag(client: Any, tenant: Any) -> None:
    live = live_template(client, tenant.headers, "sales-page")
    url = step_url(tenant.slug, live, "order")
    before = client.get(url).headers["etag"]
    product = live["steps"]["order"]["product_id"]
    ok(
        client.patch(
            f"/api/v1/products/{product}", json={"price_cents": 8900}, headers=tenant.headers
        )
    )
    after = client.get(url, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before
    assert "89.00 USD" in after.text


def test_with_consent_required_nothing_tracks_before_the_visitor_accepts(
    client: Any, tenant: Any
) -> None:
    ok(
        client.patch(
            "/api/v1/account", json={"require_tracking_consent": True}, headers=tenant.headers
        )
    )
    live = live_template(client, tenant.headers, "lead-magnet")
    url = step_url(tenant.slug, live, "optin")
    page = client.get(url)
    assert set(set_cookies(page)) == {"fp_csrf"}
    assert "data-consent-banner" in page.text
    assert context_of(page.text)["consent_required"]
    consent = f"/f/{tenant.slug}/_consent"
    token = client.cookies.get("fp_csrf")
    origin = {"Origin": "http://testserver"}
    refused = client.post(consent, data={"decision": "yes", "csrf_token": "x" * 43}, headers=origin)
    assert refused.status_code == 403
    assert client.cookies.get("visitor_id") is None
    ok(client.post(consent, data={"decision": "yes", "csrf_token": token}, headers=origin), 204)
    assert client.cookies.get("tracking_consent") == "yes"
    assert client.cookies.get("visitor_id")
    assert {"visitor_id", "session_id"} <= set(set_cookies(client.get(url)))
    ok(client.post(consent, data={"decision": "no", "csrf_token": token}, headers=origin), 204)
    assert client.cookies.get("tracking_consent") == "no"
    assert client.cookies.get("visitor_id") is None
    assert set(set_cookies(client.get(url))) == {"fp_csrf"}


def test_drafts_and_unknown_steps_stay_404(client: Any, tenant: Any, other_tenant: Any) -> None:
    live = live_template(client, tenant.headers, "lead-magnet")
    assert client.get(step_url(tenant.slug, live, "nope")).status_code == 404
    assert client.get(step_url(other_tenant.slug, live, "optin")).status_code == 404
    post = client.post(step_url(other_tenant.slug, live, "optin") + "/optin", data={})
    assert post.status_code == 404


def test_cookies_are_secure_over_https(app: Any, tenant: Any, client: Any) -> None:
    from fastapi.testclient import TestClient

    live = live_template(client, tenant.headers, "lead-magnet")
    with TestClient(app, base_url="https://testserver") as secure:
        page = secure.get(step_url(tenant.slug, live, "optin"))
    assert page.status_code == 200
    for line in set_cookies(page).values():
        assert "secure" in line.lower(), line
