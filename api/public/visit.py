"""Serving a live step to a visitor: the page made live, its cookies, ETag and CSP."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from domain.accounts import service as accounts
from domain.analytics import split_service
from domain.funnels import service as funnels
from domain.funnels.service import LiveStep
from domain.pages import service as pages
from domain.pages.render import ZERO_DECIMAL, content_security_policy
from domain.shared.settings import Settings
from domain.visitors import identity
from domain.visitors.html import FormState, PageParts, visitor_page
from domain.visitors.offers import Offer, next_step, offer_of

ASSETS = "/f/_assets"
TRACK_URL = "/api/v1/analytics/track"
NOT_FOUND_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head>"
    "<body><h1>This page does not exist or is not published.</h1></body></html>"
)
# X-Frame-Options for browsers that predate CSP frame-ancestors. `private, no-cache`: the
# answer sets cookies, so no shared cache may keep it, and the browser revalidates with
# its ETag (a 304 still renews the session cookie).
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "private, no-cache",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def not_found() -> HTMLResponse:
    """The visitor's 404 page."""
    return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers={"X-Frame-Options": "DENY"})


@dataclass(frozen=True)
class Visit:
    """A live step, its account's visitor settings and its offer."""

    live: LiveStep
    account_slug: str
    publishable_key: str
    consent_required: bool
    offer: Offer | None

    @property
    def base(self) -> str:
        """The step's own URL; its forms post under it."""
        return f"/f/{self.account_slug}/{self.live.funnel_slug}/{self.live.step['slug']}"

    def url_of(self, step: dict[str, object] | None) -> str:
        """Where a visitor goes next (this step again when it is the last)."""
        slug = step["slug"] if step else self.live.step["slug"]
        return f"/f/{self.account_slug}/{self.live.funnel_slug}/{slug}"


def load(db: Session, account_slug: str, funnel_slug: str, step_slug: str | None) -> Visit:
    """The live step a URL names (NotFound otherwise) with what serving it needs."""
    live = funnels.live_step(
        db, account_slug=account_slug, funnel_slug=funnel_slug, step_slug=step_slug
    )
    account = accounts.get_account(db, live.account_id)
    return Visit(
        live=live,
        account_slug=account_slug,
        publishable_key=account.publishable_key,
        consent_required=account.require_tracking_consent,
        offer=offer_of(db, live),
    )


@dataclass(frozen=True)
class Variant:
    """The split-test variant a visitor is served: its test, variant, page and pinned HTML."""

    ab_test_id: str
    variant_id: str
    page_id: str
    html: str


def split_variant(db: Session, visit: Visit, ident: identity.Identity) -> Variant | None:
    """The visitor's sticky variant of this step while a split test decides it, else None.

    Without a visitor id (consent not given yet) nobody is assigned and nothing is exposed:
    the step's own page is served. The page's script records the exposure (an `exposure`
    event through the public tracking API, like every page view).
    """
    if ident.visitor_id is None:
        return None
    step_id = uuid.UUID(str(visit.live.step["id"]))
    served = split_service.variant_for(
        db, visit.live.account_id, visit.live.funnel_id, step_id, ident.visitor_id
    )
    if served is None:
        return None
    html = pages.published_html(
        db, account_id=visit.live.account_id, page_id=served.page_id, version=served.page_version
    )
    if html is None:  # the winner's page was unpublished since: the step's own page
        return None
    return Variant(str(served.test_id), str(served.variant_id), str(served.page_id), html)


def _parts(visit: Visit, settings: Settings, variant: Variant | None) -> PageParts:
    step = visit.live.step
    context: dict[str, object] = {
        "funnel_id": str(visit.live.funnel_id),
        "step_id": step["id"],
        "page_id": variant.page_id if variant else step["page_id"],
        "key": visit.publishable_key,
        "track_url": TRACK_URL,
        "consent_required": visit.consent_required,
        "consent_url": f"/f/{visit.account_slug}/_consent",
        "ab_test_id": variant.ab_test_id if variant else None,
        "variant_id": variant.variant_id if variant else None,
    }
    scripts = [f"{ASSETS}/visitor.js"]
    if visit.offer is not None and visit.offer.step_type == "order_form":
        currency = visit.offer.main.currency
        context["checkout"] = {
            "payment_intent_url": "/api/v1/orders/payment-intent",
            "orders_url": "/api/v1/orders",
            "customer_url": f"{visit.base}/customer",
            "next_url": visit.url_of(next_step(visit.live)),
            "stripe_key": settings.stripe_publishable_key,
            "currency": currency,
            "zero_decimal": currency in ZERO_DECIMAL,
        }
        scripts.append(f"{ASSETS}/checkout.js")
    return PageParts(visit.base, context, scripts, visit.offer, visit.consent_required)


def csp_for(request: Request, visit: Visit, settings: Settings) -> str:
    """Only what this page needs: our scripts' folder, Stripe.js on order forms only."""
    origin = f"{request.url.scheme}://{request.url.netloc}"
    order_form = visit.offer is not None and visit.offer.step_type == "order_form"
    return content_security_policy(settings, stripe=order_form, scripts=(f"{origin}{ASSETS}/",))


def set_cookies(request: Request, response: Response, cookies: list[identity.Cookie]) -> None:
    """First-party cookies: SameSite=Lax, Secure over https."""
    secure = request.url.scheme == "https"
    for c in cookies:
        response.set_cookie(
            c.name,
            c.value,
            max_age=c.max_age,
            path=c.path,
            secure=secure,
            httponly=c.httponly,
            samesite="lax",
        )


def visitor_identity(request: Request, visit: Visit, settings: Settings) -> identity.Identity:
    """The visitor's ids (none without consent where it is required) and cookies to set."""
    allowed = identity.tracking_allowed(
        visit.consent_required, request.cookies.get(identity.CONSENT_COOKIE)
    )
    return identity.identify(
        dict(request.cookies),
        tracking_allowed=allowed,
        idle_minutes=settings.visitor_session_idle_minutes,
        visitor_days=settings.visitor_cookie_days,
    )


def etag_of(html: str) -> str:
    """A strong ETag over the page as served (its stored HTML and what the server added)."""
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'


def render(
    request: Request,
    visit: Visit,
    settings: Settings,
    *,
    state: FormState | None = None,
    status_code: int = 200,
    receipt: str | None = None,
    db: Session | None = None,
) -> HTMLResponse:
    """The page for this visitor: 200 (or status_code), or 304 when its ETag is current.

    With `db`, a step under a split test serves the visitor's variant. A re-rendered form
    (state) and a receipt are this visitor's own: no ETag, no-store.
    """
    ident = visitor_identity(request, visit, settings)
    variant = split_variant(db, visit, ident) if db is not None else None
    stored = variant.html if variant else visit.live.html
    html = receipt or visitor_page(stored, _parts(visit, settings, variant), state)
    headers = {**HEADERS, "Content-Security-Policy": csp_for(request, visit, settings)}
    if variant is not None:
        headers["Vary"] = "Cookie"
    personal = state is not None or receipt is not None
    if personal:
        headers["Cache-Control"] = "private, no-store"
    else:
        headers["ETag"] = etag_of(html)
    if not personal and status_code == 200 and _fresh(request, headers["ETag"]):
        response: HTMLResponse = HTMLResponse(status_code=304, headers=_not_modified(headers))
    else:
        response = HTMLResponse(html, status_code=status_code, headers=headers)
    set_cookies(request, response, ident.cookies)
    return response


def page_html(visit: Visit, settings: Settings, state: FormState | None = None) -> str:
    """The page as served (without a split variant): for the receipt, which adds to it."""
    return visitor_page(visit.live.html, _parts(visit, settings, None), state)


def _fresh(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") == etag for tag in wanted.split(",")) or (
        wanted.strip() == "*"
    )


def _not_modified(headers: dict[str, str]) -> dict[str, str]:
    # A 304 carries the validators and caching headers of the 200 it stands for.
    keep = ("ETag", "Cache-Control", "Vary", "Content-Security-Policy")
    return {k: v for k, v in headers.items() if k in keep}
