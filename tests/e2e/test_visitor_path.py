"""Three visitors through a published funnel in headless Chromium, against the Stripe stand-in.

One opts in and leaves; one buys with the bump and accepts the upsell; one buys without the
bump, declines the upsell and takes the downsell. The page's tracking requests are checked
against the contract on their way to the real ingestion route. Afterwards (the events feed,
the stream's drain and one rollup run in-process) orders, contacts, the stand-in's charges,
the raw events and the funnel overview must agree, money to the cent. Every
step is photographed at 375, 768 and 1280 px; no console error, failed request, HTTP error
or horizontal scroll is allowed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from domain.analytics import drain
from domain.analytics.consumers import CONSUMER as FACTS
from domain.analytics.models import AnalyticsEvent
from domain.contacts.models import Contact
from domain.events import feed
from domain.orders.models import Order, OrderCharge, OrderUpsell
from domain.shared.db import unit_of_work
from tests.support import files
from tests.support.live import LiveApp
from tests.support.orders import charge_upsell, settle
from workers.tasks import analytics_rollup as rollup
from workers.tasks.events import drain_consumer

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "visitor-path"
WIDTHS = (375, 768, 1280)
CARD = "4242 4242 4242 4242"
TRACK = re.compile(r".*/api/v1/analytics/track(\?.*)?$")


@dataclass
class Shop:
    """The live app, the owner's headers, the funnel and its entry URL."""

    app: str
    headers: dict[str, str]
    account_id: uuid.UUID
    publishable_key: str
    funnel: dict[str, Any]
    entry: str

    def step(self, slug: str) -> str:
        """A step's URL."""
        return f"{self.entry}/{slug}"


def _call(method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    r = httpx.request(method, url, json=body, headers=headers, timeout=15)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def _build(app: str) -> Shop:
    """Register, make the tripwire funnel, put the lead magnet's opt-in page first, publish."""
    email = f"visitor-{uuid.uuid4().hex[:10]}@example.com"
    reg = httpx.post(
        f"{app}/api/v1/auth/register",
        json={"email": email, "password": "visitor path password", "account_name": "Shop"},
        timeout=15,
    ).json()
    h = {"Authorization": f"Bearer {reg['access_token']}"}
    api = f"{app}/api/v1/funnels"
    templates = {t["key"]: t for t in _call("GET", f"{api}/templates?page_size=100", h)["items"]}
    lead = _call("POST", f"{api}/from-template", h, {"template_id": templates["lead-magnet"]["id"]})
    optin_page = next(s for s in lead["steps"] if s["step_type"] == "optin")["page_id"]
    _call("DELETE", f"{api}/{lead['id']}", h)
    _real_cover(app, h, optin_page)
    funnel = _call("POST", f"{api}/from-template", h, {"template_id": templates["tripwire"]["id"]})
    step = {"name": "Opt-in", "slug": "optin", "step_type": "optin", "page_id": optin_page}
    _call("POST", f"{api}/{funnel['id']}/steps", h, {**step, "position": 0})
    funnel = _call("PATCH", f"{api}/{funnel['id']}", h, {"status": "active"})
    slug = reg["account"]["slug"]
    return Shop(
        app=app,
        headers=h,
        account_id=uuid.UUID(reg["account"]["id"]),
        publishable_key=reg["account"]["publishable_key"],
        funnel=funnel,
        entry=f"{app}/f/{slug}/{funnel['slug']}",
    )


def _real_cover(app: str, h: dict[str, str], page_id: str) -> None:
    """The template's sample cover image is not shipped (/media/sample/... is a 404, left
    to the templates' owner): upload a real one and point the page at it."""
    r = httpx.post(
        f"{app}/api/v1/pages/{page_id}/assets",
        files={"file": ("cover.png", files.png(320, 400, (20, 90, 160)), "image/png")},
        headers=h,
        timeout=15,
    )
    assert r.status_code == 201, r.text
    page = _call("GET", f"{app}/api/v1/pages/{page_id}", h)
    text = json.dumps(page["elements"]).replace("/media/sample/guide-cover.png", r.json()["url"])
    _call("PATCH", f"{app}/api/v1/pages/{page_id}", h, {"elements": json.loads(text)})


@pytest.fixture(scope="module")
def shop(stripe_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """uvicorn serving the app, Stripe (API and Stripe.js) played by the stand-in."""
    from domain.orders.stripe_gateway import gateway
    from domain.shared.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("STRIPE_API_BASE", stripe_server.base_url)
        env.setenv("STRIPE_WEBHOOK_SECRET", stripe_server.webhook_secret)
        env.setenv("STRIPE_JS_URL", f"{stripe_server.base_url}/v3/")
        env.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_visitorpath")
        env.setenv("ASSET_DIR", str(tmp_path_factory.mktemp("assets")))
        env.delenv("AWS_S3_BUCKET", raising=False)
        get_settings.cache_clear()
        gateway.cache_clear()
        from api.main import create_app

        live = LiveApp(create_app())
        live.start()
        try:
            yield _build(live.url)
        finally:
            live.stop()
            get_settings.cache_clear()
            gateway.cache_clear()


@dataclass
class Visitor:
    """One browser context: its page, what went wrong, and the tracking bodies it sent."""

    name: str
    page: Any
    problems: list[str] = field(default_factory=list)
    tracked: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, str] | None = None  # the cookies at the end, once the browser is closed

    def cookie(self, name: str) -> str | None:
        """A cookie of this browser."""
        if self.kept is not None:
            return self.kept.get(name)
        found = [c["value"] for c in self.page.context.cookies() if c["name"] == name]
        return found[0] if found else None

    def close(self) -> None:
        """Keep the cookies, close the browser context."""
        self.kept = {c["name"]: c["value"] for c in self.page.context.cookies()}
        self.page.context.close()


def _visitor(browser: Any, shop: Shop, stripe_url: str, name: str) -> Visitor:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visitor = Visitor(name, context.new_page())

    def route(route: Any) -> None:
        request = route.request
        if TRACK.match(request.url):
            # Kept for the contract check, then sent on to the real ingestion route.
            visitor.tracked.append(
                {"body": json.loads(request.post_data or "{}"), "headers": request.headers}
            )
            # Sent on to the real ingestion route from here, so a page that navigates away
            # cannot abort it half-way; the browser gets the route's own answer.
            sent = httpx.post(
                request.url,
                content=request.post_data or "",
                headers={"content-type": request.headers.get("content-type", "text/plain")},
                timeout=15,
            )
            with contextlib.suppress(PlaywrightError):  # the page may be gone by now
                route.fulfill(status=sent.status_code, body=sent.text)
        elif request.url.startswith((f"{shop.app}/", f"{stripe_url}/")):
            route.continue_()
        else:
            visitor.problems.append(f"left the machine: {request.url}")
            route.abort()

    page = visitor.page
    context.route("**/*", route)

    def on_console(message: Any) -> None:
        if message.type == "error":
            visitor.problems.append(message.text)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            visitor.problems.append(f"HTTP {response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: visitor.problems.append(f"page error: {e}"))
    def on_failed(request: Any) -> None:
        # A beacon the page dropped while leaving was already sent on by the route above.
        if not (TRACK.match(request.url) and request.failure == "net::ERR_ABORTED"):
            visitor.problems.append(f"failed: {request.url} {request.failure}")

    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    return visitor


def _photograph(visitor: Visitor, step: str) -> None:
    """The page at each width: a full-page screenshot, and no horizontal scroll."""
    page = visitor.page
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{visitor.name} {step} at {width}px scrolls sideways by {overflow}px"
        page.screenshot(path=str(SHOTS / f"{visitor.name}-{step}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _arrive(visitor: Visitor, url: str | re.Pattern[str], step: str) -> None:
    visitor.page.wait_for_url(url, timeout=15_000)
    visitor.page.wait_for_load_state("networkidle")
    _photograph(visitor, step)


def _pay(visitor: Visitor, shop: Shop, *, email: str, bump: bool) -> None:
    page = visitor.page
    page.goto(shop.step("offer"))
    _arrive(visitor, shop.step("offer"), "order")
    total = page.locator("[data-order-total]")
    assert total.inner_text() == "7.00 USD"
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", f"{visitor.name.title()} Buyer")
    page.fill("[data-standin-card]", CARD)
    if bump:
        page.check("input[name=bump]")
        assert total.inner_text() == "12.00 USD"  # the bump's 5.00 USD added on the page
        _photograph(visitor, "order-with-bump")
    page.click("form[data-order-form] button[type=submit]")
    _arrive(visitor, shop.step("upsell"), "upsell")
    assert "47.00 USD" in page.locator("form.fp-accept").inner_text()


def test_three_visitors_through_a_live_funnel(browser: Any, shop: Shop, stripe_server: Any) -> None:
    stripe_url = stripe_server.base_url
    visitors = [_visitor(browser, shop, stripe_url, n) for n in ("lead", "bumper", "downer")]
    lead, bumper, downer = visitors
    try:
        # 1. Opts in and leaves.
        lead.page.goto(shop.entry)
        _arrive(lead, shop.entry, "optin")
        lead.page.fill("input[name=email]", "lead@example.com")
        lead.page.fill("input[name=first_name]", "Lee")
        lead.page.check("input[name=marketing_consent]")
        lead.page.click("form.el-form button[type=submit]")
        _arrive(lead, shop.step("offer"), "after-optin")
        # 2. Buys with the bump, accepts the upsell.
        _pay(bumper, shop, email="bumper@example.com", bump=True)
        bumper.page.click("form.fp-accept button[type=submit]")
        _arrive(bumper, shop.step("thank-you"), "thank-you")
        assert "Your order #" in bumper.page.locator(".fp-receipt").inner_text()
        # 3. Buys without it, declines the upsell, takes the downsell.
        _pay(downer, shop, email="downer@example.com", bump=False)
        downer.page.click("form.fp-decline button[type=submit]")
        _arrive(downer, shop.step("downsell"), "downsell")
        assert "19.00 USD" in downer.page.locator("form.fp-accept").inner_text()
        downer.page.click("form.fp-accept button[type=submit]")
        _arrive(downer, shop.step("thank-you"), "thank-you")
        for v in visitors:
            assert v.problems == [], v.name
        _check_tracking(shop, visitors)
    finally:
        for v in visitors:
            v.close()
    _settle_and_agree(shop, stripe_server, bumper, downer, lead)
    _analytics_agree(shop, visitors)


def _check_tracking(shop: Shop, visitors: list[Visitor]) -> None:
    """One page_view per page loaded, in the contract's body, with the browser's ids."""
    steps = {s["slug"]: s for s in shop.funnel["steps"]}
    expected = {"lead": ["optin", "offer"], "bumper": ["offer", "upsell", "thank-you"]}
    expected["downer"] = ["offer", "upsell", "downsell", "thank-you"]
    for v in visitors:
        bodies = [t["body"] for t in v.tracked]
        assert [b["step_id"] for b in bodies] == [steps[s]["id"] for s in expected[v.name]]
        for body in bodies:
            assert body["type"] == "page_view"
            assert body["key"] == shop.publishable_key
            assert body["funnel_id"] == shop.funnel["id"]
            assert body["visitor_id"] == v.cookie("visitor_id")
            assert body["session_id"] == v.cookie("session_id")
            assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", body["event_id"])
        assert all(t["headers"]["content-type"].startswith("text/plain") for t in v.tracked)
        assert len({b["event_id"] for b in bodies}) == len(bodies)


def _settle_and_agree(
    shop: Shop, standin: Any, bumper: Visitor, downer: Visitor, lead: Visitor
) -> None:
    """After the settling jobs: orders, contacts and the stand-in's charges agree to the cent."""
    with unit_of_work() as session:
        orders = list(session.scalars(select(Order).where(Order.account_id == shop.account_id)))
    assert len(orders) == 2
    for order in orders:
        assert settle(str(order.id)) == {"status": "paid"}
    with unit_of_work() as session:
        upsells = list(
            session.scalars(select(OrderUpsell).where(OrderUpsell.account_id == shop.account_id))
        )
    for upsell in upsells:
        if upsell.decision == "accepted":
            charge_upsell(str(upsell.id))
    with unit_of_work() as session:
        orders = list(session.scalars(select(Order).where(Order.account_id == shop.account_id)))
        charges = list(
            session.scalars(select(OrderCharge).where(OrderCharge.account_id == shop.account_id))
        )
        contacts = {
            c.email: c
            for c in session.scalars(select(Contact).where(Contact.account_id == shop.account_id))
        }
    by_visitor = {o.visitor_id: o for o in orders}
    assert by_visitor[bumper.cookie("visitor_id")].total_cents == 700 + 500 + 4700
    assert by_visitor[downer.cookie("visitor_id")].total_cents == 700 + 1900
    assert {o.status for o in orders} == {"paid"}
    assert {o.currency for o in orders} == {"USD"}
    assert sorted((u.offer_type, u.decision) for u in upsells) == [
        ("downsell", "accepted"),
        ("upsell", "accepted"),
        ("upsell", "declined"),
    ]
    # The stand-in's side: every charge we recorded succeeded there for what we captured.
    captured = sum(c.captured_cents for c in charges)
    assert captured == sum(o.total_cents for o in orders) == 8500
    at_stripe = [standin.payment_intent(str(c.stripe_payment_intent_id)) for c in charges]
    assert [p["status"] for p in at_stripe] == ["succeeded"] * 4
    assert sum(p["amount_received"] for p in at_stripe) == 8500
    assert {p["currency"] for p in at_stripe} == {"usd"}
    customers = {p["customer"] for p in at_stripe}
    assert sum(standin.captured_for_customer(c) for c in customers) == 8500
    # Contacts: the lead with consent and its visitor, the two buyers.
    assert set(contacts) == {"lead@example.com", "bumper@example.com", "downer@example.com"}
    assert contacts["lead@example.com"].marketing_consent is True
    assert contacts["lead@example.com"].visitor_id == lead.cookie("visitor_id")


def test_with_consent_required_the_page_tracks_only_after_accept(
    browser: Any, shop: Shop, stripe_server: Any
) -> None:
    reg = httpx.post(
        f"{shop.app}/api/v1/auth/register",
        json={
            "email": f"consent-{uuid.uuid4().hex[:10]}@example.com",
            "password": "visitor path password",
            "account_name": "Careful",
        },
        timeout=15,
    ).json()
    h = {"Authorization": f"Bearer {reg['access_token']}"}
    _call("PATCH", f"{shop.app}/api/v1/account", h, {"require_tracking_consent": True})
    api = f"{shop.app}/api/v1/funnels"
    templates = {t["key"]: t for t in _call("GET", f"{api}/templates?page_size=100", h)["items"]}
    funnel = _call(
        "POST", f"{api}/from-template", h, {"template_id": templates["lead-magnet"]["id"]}
    )
    _real_cover(shop.app, h, funnel["steps"][0]["page_id"])
    funnel = _call("PATCH", f"{api}/{funnel['id']}", h, {"status": "active"})
    url = f"{shop.app}/f/{reg['account']['slug']}/{funnel['slug']}"
    visitor = _visitor(browser, shop, stripe_server.base_url, "consent")
    try:
        page = visitor.page
        page.goto(url)
        _arrive(visitor, url, "banner")
        banner = page.locator("[data-consent-banner]")
        assert banner.is_visible()
        assert visitor.tracked == []
        assert visitor.cookie("visitor_id") is None
        page.click("[data-consent-banner] button[data-consent=yes]")
        banner.wait_for(state="hidden")
        page.wait_for_function("document.cookie.includes('visitor_id=')")
        visitor.page.wait_for_load_state("networkidle")
        assert [t["body"]["type"] for t in visitor.tracked] == ["page_view"]
        assert visitor.tracked[0]["body"]["visitor_id"] == visitor.cookie("visitor_id")
        page.reload()
        visitor.page.wait_for_load_state("networkidle")
        assert not banner.is_visible()
        assert len(visitor.tracked) == 2
        assert visitor.problems == []
    finally:
        visitor.close()


def test_a_declined_card_can_be_replaced_and_pays_the_same_order(
    browser: Any, shop: Shop, stripe_server: Any
) -> None:
    own = _build(shop.app)  # an account of its own: the other tests count their orders
    visitor = _visitor(browser, own, stripe_server.base_url, "retry")
    try:
        page = visitor.page
        page.goto(own.step("offer"))
        _arrive(visitor, own.step("offer"), "order")
        page.fill("input[name=email]", "retry@example.com")
        page.fill("input[name=name]", "Ray Retry")
        page.fill("[data-standin-card]", "4000 0000 0000 0002")
        page.click("form[data-order-form] button[type=submit]")
        errors = page.locator("[data-order-errors]")
        errors.filter(has_text="Your card was declined.").wait_for()
        _photograph(visitor, "declined")
        assert page.url == own.step("offer")
        page.fill("[data-standin-card]", CARD)
        page.click("form[data-order-form] button[type=submit]")
        _arrive(visitor, own.step("upsell"), "upsell")
        # The browser reports the stand-in's 402 (Stripe answers a decline so): nothing else.
        declined = [p for p in visitor.problems if "402" in p]
        assert len(declined) == 2, visitor.problems
        assert [p for p in visitor.problems if p not in declined] == []
    finally:
        visitor.close()
    with unit_of_work() as session:
        orders = list(session.scalars(select(Order).where(Order.account_id == own.account_id)))
    assert len(orders) == 1
    assert settle(str(orders[0].id)) == {"status": "paid"}


def _analytics_agree(shop: Shop, visitors: list[Visitor]) -> None:
    """After the feed's facts, the drain and one rollup: raw events and the overview agree."""
    facts = next(c for c in feed.registered() if c.name == FACTS)
    while drain_consumer(facts):
        pass
    assert drain.run(drain.client(), "visitor-path", seconds=30).caught_up
    rollup.run()
    with unit_of_work() as session:
        rows = session.execute(
            select(AnalyticsEvent.type, AnalyticsEvent.visitor_id, AnalyticsEvent.amount_cents)
            .where(AnalyticsEvent.account_id == shop.account_id)
        ).all()
        orders = list(session.scalars(select(Order).where(Order.account_id == shop.account_id)))
    # Raw events: every page view the browsers sent, the server's facts for the rest.
    views = sorted(r.visitor_id for r in rows if r.type == "page_view")
    sent = sorted(t["body"]["visitor_id"] for v in visitors for t in v.tracked)
    assert views == sent
    assert len(views) == 9
    kinds = sorted(r.type for r in rows if r.type != "page_view")
    assert kinds == [
        "optin", "purchase", "purchase", "upsell_accepted", "upsell_accepted", "upsell_declined"
    ]  # fmt: skip
    money = sum(r.amount_cents or 0 for r in rows if r.type in ("purchase", "upsell_accepted"))
    paid = sum(o.total_cents for o in orders)
    assert money == paid == 8500
    buyers = {r.visitor_id for r in rows if r.type == "purchase"}
    assert buyers == {o.visitor_id for o in orders}
    # The overview and orders analytics say the same, read from their own tables.
    today = dt.datetime.now(dt.UTC).date().isoformat()
    span = {"from": today, "to": today}
    overview = _call("GET", f"{shop.app}/api/v1/analytics/funnels/{shop.funnel['id']}/overview?"
                     + urlencode(span), shop.headers)  # fmt: skip
    funnel = overview["funnel"]
    assert funnel["unique_visitors"] == 3
    assert funnel["views"] == 9
    assert (funnel["optins"], funnel["sales"], funnel["bump_purchases"]) == (1, 2, 1)
    assert (funnel["upsells_accepted"], funnel["upsells_declined"]) == (2, 1)
    assert [(r["currency"], r["revenue_cents"]) for r in funnel["revenue"]] == [("USD", 8500)]
    orders_report = _call(
        "GET", f"{shop.app}/api/v1/orders/analytics?" + urlencode(span), shop.headers
    )
    totals = {c["currency"]: c["totals"] for c in orders_report["currencies"]}
    assert totals["USD"]["gross_revenue_cents"] == 8500
    assert totals["USD"]["orders"] == funnel["sales"]
