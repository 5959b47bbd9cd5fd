"""What visitors post: opt-ins, tracking consent, the order cookie, one-click offers.

Every post is checked for CSRF (the double-submit token and the Origin) before anything
else is read; bad input changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import escape
from starlette.datastructures import FormData

from api.deps import DbSession, SettingsDep, client_ip
from api.public import buyer
from api.public.visit import Visit, load, not_found, render, set_cookies, visitor_identity
from api.ratelimit import Budget, count_request
from domain.accounts import service as accounts
from domain.accounts.schemas import Principal
from domain.orders import offers as order_offers
from domain.orders.schemas import UpsellIn
from domain.shared.errors import AppError, NotFound, RateLimited
from domain.visitors import csrf, identity, optin
from domain.visitors.html import FormState
from domain.visitors.offers import next_step

router = APIRouter(prefix="/f", include_in_schema=False)
HONEYPOT = "fp_website"  # prefixed: a merchant's own "website" field stays theirs
MESSAGE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
    "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
    "<body style='font-family:sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem'>"
    "<h1>{title}</h1><p>{text}</p><p><a href='{back}'>Back</a></p></body></html>"
)


def _values(form: FormData) -> dict[str, str]:
    """The last value of each text field (files are not taken)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _csrf_refusal(request: Request, form: FormData) -> str | None:
    token = form.get("csrf_token")
    return csrf.check(
        host=request.headers.get("host"),
        origin=request.headers.get("origin"),
        referer=request.headers.get("referer"),
        cookie=request.cookies.get(identity.CSRF_COOKIE),
        field=token if isinstance(token, str) else None,
    )


def _message(status: int, title: str, text: str, back: str) -> HTMLResponse:

    body = MESSAGE_PAGE.format(title=escape(title), text=escape(text), back=escape(back))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.post("/{account_slug}/{funnel_slug}/{step_slug}/optin")
async def optin_post(
    account_slug: str,
    funnel_slug: str,
    step_slug: str,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    """An opt-in: 303 to the next step, or the page again with the errors (nothing stored)."""
    form = await request.form(max_files=0, max_fields=60)
    slugs = (account_slug, funnel_slug, step_slug)
    return await run_in_threadpool(_optin, request, db, settings, slugs, form)


def _optin(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    slugs: tuple[str, str, str],
    form: FormData,
) -> Response:
    try:
        visit = load(db, *slugs)
    except NotFound:
        return not_found()
    values = _values(form)
    shown = {k: v for k, v in values.items() if k not in ("csrf_token", HONEYPOT)}
    try:
        count_request(
            request,
            settings,
            [Budget(settings.rate_limit_optin, f"optin-ip:{client_ip(request, settings)}")],
        )
    except RateLimited as exc:
        state = FormState(shown, [f"Too many attempts; try again in {exc.retry_after} s"])
        response = render(request, visit, settings, state=state, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    refusal = _csrf_refusal(request, form)
    if refusal:
        return render(request, visit, settings, state=FormState(shown, [refusal]), status_code=403)
    next_url = visit.url_of(next_step(visit.live))
    if values.get(HONEYPOT):
        # A bot filled the hidden field: it is told all went well, and nothing is stored.
        return RedirectResponse(next_url, status_code=303)
    checked = optin.check(values)
    if checked.errors:
        state = FormState(shown, checked.errors)
        return render(request, visit, settings, state=state, status_code=422)
    ident = visitor_identity(request, visit, settings)
    optin.record_optin(
        db,
        account_id=visit.live.account_id,
        funnel_id=visit.live.funnel_id,
        step_id=uuid.UUID(visit.live.step["id"]),
        checked=checked,
        visitor_id=ident.visitor_id,
        session_id=ident.session_id,
    )
    redirect = RedirectResponse(next_url, status_code=303)
    set_cookies(request, redirect, ident.cookies)
    return redirect


@router.post("/{account_slug}/_consent")
async def consent_post(
    account_slug: str, request: Request, db: DbSession, settings: SettingsDep
) -> Response:
    """The consent banner's answer: yes sets the visitor's ids, no removes them (204)."""
    form = await request.form(max_files=0, max_fields=10)
    known = await run_in_threadpool(accounts.account_id_for_slug, db, account_slug)
    if known is None:
        return not_found()
    if _csrf_refusal(request, form):
        return Response(status_code=403)
    decision = form.get("decision")
    if decision not in ("yes", "no"):
        return Response(status_code=422)
    days = settings.visitor_cookie_days
    response = Response(status_code=204)
    cookies = [identity.Cookie(identity.CONSENT_COOKIE, str(decision), days * 86400)]
    if decision == "yes":
        cookies += identity.identify(
            dict(request.cookies),
            tracking_allowed=True,
            idle_minutes=settings.visitor_session_idle_minutes,
            visitor_days=days,
        ).cookies
    else:
        for name in (identity.VISITOR_COOKIE, identity.SESSION_COOKIE):
            response.delete_cookie(name, path="/f/")
    set_cookies(request, response, cookies)
    return response


@router.post("/{account_slug}/{funnel_slug}/{step_slug}/customer")
async def customer_post(
    account_slug: str,
    funnel_slug: str,
    step_slug: str,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    """Keep the new order's customer token in an HttpOnly cookie (204; 403 if not its token)."""
    form = await request.form(max_files=0, max_fields=10)
    slugs = (account_slug, funnel_slug, step_slug)
    return await run_in_threadpool(_customer, request, db, settings, slugs, form)


def _customer(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    slugs: tuple[str, str, str],
    form: FormData,
) -> Response:
    try:
        visit = load(db, *slugs)
    except NotFound:
        return not_found()
    if _csrf_refusal(request, form):
        return Response(status_code=403)
    order_id, token = form.get("order_id"), form.get("customer_token")
    parsed = buyer.parse(f"{order_id}.{token}") if isinstance(token, str) else None
    if parsed is None or buyer.verified_order(db, visit.live.account_id, *parsed) is None:
        return Response(status_code=403)
    response = Response(status_code=204)
    buyer.remember(
        request,
        response,
        slugs[0],
        buyer.cookie_value(*parsed),
        settings.customer_token_ttl_minutes,
    )
    return response


def _answer(
    db: DbSession, visit: Visit, request: Request, decision: Literal["accept", "decline"]
) -> str | None:
    """Answer the offer for the visitor's order; None, or what went wrong."""
    parsed = buyer.parse(request.cookies.get(identity.ORDER_COOKIE))
    if parsed is None:
        return "We could not find your order in this browser"
    order_id, token = parsed
    caller = Principal(account_id=visit.live.account_id, kind="publishable_key")
    data = UpsellIn(step_id=visit.live.step["id"], decision=decision, customer_token=token)
    try:
        order_offers.answer_upsell(db, caller=caller, order_id=order_id, data=data)
    except AppError as exc:
        db.rollback()
        return str(exc.message)
    return None


@router.post("/{account_slug}/{funnel_slug}/{step_slug}/offer")
async def offer_post(
    account_slug: str,
    funnel_slug: str,
    step_slug: str,
    request: Request,
    db: DbSession,
) -> Response:
    """Yes (charge the saved card in one click) or no to an upsell or downsell: 303 onwards."""
    form = await request.form(max_files=0, max_fields=10)
    slugs = (account_slug, funnel_slug, step_slug)
    return await run_in_threadpool(_offer, request, db, slugs, form)


def _offer(
    request: Request, db: DbSession, slugs: tuple[str, str, str], form: FormData
) -> Response:
    try:
        visit = load(db, *slugs)
    except NotFound:
        return not_found()
    if visit.offer is None or visit.offer.step_type not in ("upsell", "downsell"):
        return not_found()
    refusal = _csrf_refusal(request, form)
    decision = form.get("decision")
    if refusal or decision not in ("accept", "decline"):
        text = refusal or "Choose yes or no"
        return _message(403 if refusal else 422, "Please try again", text, visit.base)
    problem = _answer(db, visit, request, "accept" if decision == "accept" else "decline")
    if problem:
        return _message(409, "This offer could not be taken", problem, visit.base)
    target = next_step(visit.live, accepted=decision == "accept")
    return RedirectResponse(visit.url_of(target), status_code=303)
