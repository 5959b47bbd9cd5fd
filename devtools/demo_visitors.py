"""Simulated visitors of the demo funnel, over HTTP as a browser would go through it.

Each visitor GETs the published pages, reports page views to the tracking endpoint, may
opt in through the page's form, may buy through the checkout API (a PaymentIntent, the
order, the card confirmed at the Stripe stand-in as Stripe.js would), with or without
the bump, and answers the upsell and downsell. Routes this build does not have yet
(tracking, the opt-in post) are noted once and skipped.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from devtools.demo_seed import Demo

# Out of 100 visitors, roughly: 35 leave on the opt-in page, 25 leave after opting in, 40
# reach the order form and 34 of them buy; 40% take the bump, 35% the upsell, and 40% of
# those who decline it take the downsell. A few cards are declined.
LEAVE_AT_OPTIN = 0.35
LEAVE_AFTER_OPTIN = 0.4
ABANDON_CHECKOUT = 0.15
TAKE_BUMP = 0.4
TAKE_UPSELL = 0.35
TAKE_DOWNSELL = 0.4
DECLINED_CARD = 0.06
DEMO_PUBLISHABLE_STRIPE_KEY = "pk_test_demo"


class _FormFields(HTMLParser):
    """The action and hidden inputs of the page's opt-in form."""

    def __init__(self) -> None:
        super().__init__()
        self.in_optin = False
        self.action: str | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("data-form") == "optin":
            self.in_optin = True
            self.action = a.get("action")
        elif tag == "input" and self.in_optin and a.get("type") == "hidden" and a.get("name"):
            self.hidden[str(a["name"])] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_optin = False


def _context(html: str) -> dict[str, Any]:
    """The page's visitor context (the JSON its script reads), or {}."""
    match = re.search(r'<script type="application/json" id="fp-visit">(.*?)</script>', html, re.S)
    return dict(json.loads(match.group(1))) if match else {}


@dataclass
class Tally:
    """What the visitors did so far, and which routes this build lacks."""

    counts: Counter[str] = field(default_factory=Counter)
    missing: dict[str, str] = field(default_factory=dict)
    last_error: str = ""
    send_visitor_ids: bool = True  # until the checkout API refuses them
    _shown: set[str] = field(default_factory=set)

    def new_notes(self) -> list[str]:
        """Notes not shown before: each missing route once, and the latest error if new."""
        notes = [*self.missing.values(), *([self.last_error] if self.last_error else [])]
        fresh = [n for n in notes if n not in self._shown]
        self._shown.update(fresh)
        return fresh

    def line(self) -> str:
        """One progress line."""
        c = self.counts
        optins = "n/a" if "optin" in self.missing else str(c["opted_in"])
        return (
            f"visitors {c['visitors']} | left {c['left']} | opted in {optins} | "
            f"orders {c['orders']} (bump {c['bumps']}, upsell {c['upsells']}, "
            f"downsell {c['downsells']}) | declined cards {c['declined']} | "
            f"page views sent {c['page_views']} | errors {c['errors']}"
        )


class Visitor:
    """One simulated visitor with their own cookies and ids."""

    def __init__(self, demo: Demo, stripe_base: str, tally: Tally, rng: random.Random) -> None:
        """A new visitor; nothing is requested until walk()."""
        self.demo, self.stripe_base, self.tally, self.rng = demo, stripe_base, tally, rng
        self.http = httpx.Client(base_url=demo.api, timeout=20, follow_redirects=True)
        self.visitor_id = str(uuid.uuid4())
        self.session_id = str(uuid.uuid4())
        self.email = f"visitor-{self.visitor_id[:12]}@example.com"
        self.key = {"X-Publishable-Key": demo.publishable_key}

    def walk(self) -> None:
        """Go through the funnel as far as this visitor's luck takes them."""
        self.tally.counts["visitors"] += 1
        try:
            optin_page = self.view("optin")
            if self.rng.random() < LEAVE_AT_OPTIN:
                self.tally.counts["left"] += 1
                return
            self.opt_in(optin_page)
            if self.rng.random() < LEAVE_AFTER_OPTIN:
                self.tally.counts["left"] += 1
                return
            self.view("order_form")
            if self.rng.random() < ABANDON_CHECKOUT:
                self.tally.counts["left"] += 1
                return
            self.buy()
        except (httpx.HTTPError, KeyError, ValueError) as err:
            self.tally.counts["errors"] += 1
            self.tally.last_error = f"last error: {type(err).__name__}: {err}"[:300]
        finally:
            self.http.close()

    def view(self, step_type: str) -> str:
        """GET a step's page and report the page view; the page's HTML."""
        step = self.demo.steps[step_type]
        r = self.http.get(self.demo.step_url(step_type))
        r.raise_for_status()
        # The pages set first-party visitor and session cookies; page views and the
        # server's opt-in and purchase facts then name the same visitor, as in a browser.
        self.visitor_id = self.http.cookies.get("visitor_id") or self.visitor_id
        self.session_id = self.http.cookies.get("session_id") or self.session_id
        self.track(step)
        # A split-test variant: report the exposure, as the page's script does.
        context = _context(r.text)
        if context.get("ab_test_id"):
            self.track(step, "exposure", context)
        return r.text

    def track(
        self, step: dict[str, Any], kind: str = "page_view", context: dict[str, Any] | None = None
    ) -> None:
        """Send an event the way the page's script would (text/plain JSON, sendBeacon)."""
        if "tracking" in self.tally.missing:
            return
        event = {
            "event_id": str(uuid.uuid4()),
            "type": kind,
            "funnel_id": self.demo.funnel["id"],
            "step_id": step["id"],
            "visitor_id": self.visitor_id,
            "session_id": self.session_id,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        if context:
            event |= {"ab_test_id": context["ab_test_id"], "variant_id": context["variant_id"]}
        r = self.http.post(
            "/api/v1/analytics/track",
            params={"key": self.demo.publishable_key},
            content=json.dumps(event),
            headers={"Content-Type": "text/plain"},
        )
        if r.status_code in (404, 405):
            self.tally.missing["tracking"] = (
                f"no tracking route (POST /api/v1/analytics/track {r.status_code})"
            )
        elif r.status_code < 300:
            self.tally.counts[f"{kind}s"] += 1
        else:
            self.tally.counts["errors"] += 1

    def opt_in(self, html: str) -> None:
        """Post the page's opt-in form (its hidden CSRF field included)."""
        if "optin" in self.tally.missing:
            return
        form = _FormFields()
        form.feed(html)
        url = form.action or f"{self.demo.step_url('optin')}/optin"
        data = {**form.hidden, "email": self.email, "first_name": "Demo"}
        # The page's script copies the CSRF cookie into the form (double submit).
        data["csrf_token"] = self.http.cookies.get("fp_csrf") or ""
        if self.rng.random() < 0.7:
            data["marketing_consent"] = "on"
        r = self.http.post(url, data=data, headers={"Origin": self.demo.api})
        if r.status_code in (404, 405):
            self.tally.missing["optin"] = f"no opt-in route (POST {url} answered {r.status_code})"
        elif r.status_code < 400:
            self.tally.counts["opted_in"] += 1
        else:
            self.tally.counts["errors"] += 1

    def buy(self) -> None:
        """Pay on the order form, then answer the upsell (and the downsell), then thank-you."""
        order_step = self.demo.steps["order_form"]
        bump = bool(self.demo.bump_product_ids) and self.rng.random() < TAKE_BUMP
        cart = {
            "funnel_id": self.demo.funnel["id"],
            "step_id": order_step["id"],
            "bump_product_ids": self.demo.bump_product_ids[:1] if bump else [],
        }
        intent = self._ok(self.checkout_post("/api/v1/orders/payment-intent", cart))
        body = {
            **cart,
            "payment_intent_id": intent["payment_intent_id"],
            "customer": {"email": self.email, "first_name": "Demo", "last_name": "Visitor"},
        }
        order = self._ok(self.checkout_post("/api/v1/orders", body))
        self.tally.counts["orders"] += 1
        self.tally.counts["bumps"] += bump
        if not self.confirm_card(intent):
            self.tally.counts["declined"] += 1
            return
        self.view("upsell")
        if self.answer(order, "upsell", TAKE_UPSELL):
            self.tally.counts["upsells"] += 1
        elif "downsell" in self.demo.steps:
            self.view("downsell")
            self.tally.counts["downsells"] += self.answer(order, "downsell", TAKE_DOWNSELL)
        self.view("thank_you")

    def checkout_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a checkout call with the visitor's ids, or without once the API refuses them."""
        if self.tally.send_visitor_ids:
            ids = {"visitor_id": self.visitor_id, "session_id": self.session_id}
            r = self.http.post(path, json={**body, **ids}, headers=self.key)
            if r.status_code != 422 or "visitor_id" not in r.text:
                return r
            self.tally.send_visitor_ids = False
            self.tally.missing["visitor ids"] = (
                f"{path} does not take visitor_id/session_id yet: checkouts go without them"
            )
        return self.http.post(path, json=body, headers=self.key)

    def confirm_card(self, intent: dict[str, Any]) -> bool:
        """Confirm the PaymentIntent at the stand-in with a publishable key, as Stripe.js does."""
        declined = self.rng.random() < DECLINED_CARD
        card = "pm_card_chargeDeclined" if declined else "pm_card_visa"
        r = httpx.post(
            f"{self.stripe_base}/v1/payment_intents/{intent['payment_intent_id']}/confirm",
            data={
                "key": DEMO_PUBLISHABLE_STRIPE_KEY,  # Stripe.js sends its key as a form field
                "client_secret": intent["client_secret"],
                "payment_method": card,
            },
            timeout=20,
        )
        return r.status_code == 200 and not declined

    def answer(self, order: dict[str, Any], step_type: str, chance: float) -> bool:
        """Accept or decline a one-click offer; whether it was accepted."""
        accept = self.rng.random() < chance
        body = {
            "step_id": self.demo.steps[step_type]["id"],
            "decision": "accept" if accept else "decline",
            "customer_token": order["customer_token"],
        }
        self._ok(
            self.http.post(f"/api/v1/orders/{order['id']}/upsells", json=body, headers=self.key)
        )
        return accept

    def _ok(self, r: httpx.Response) -> Any:
        if r.status_code >= 300:
            raise ValueError(
                f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}"
            )
        return r.json()
