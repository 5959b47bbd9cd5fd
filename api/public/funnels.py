"""Published funnels for visitors: /f/{account_slug}/{funnel_slug}[/{step_slug}]."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import DbSession, SettingsDep
from api.public import buyer
from api.public.visit import load, not_found, page_html, render
from domain.shared.errors import NotFound
from domain.visitors.html import script, with_receipt

router = APIRouter(prefix="/f", include_in_schema=False)


@router.get("/_assets/{name}")
def asset(name: str, request: Request) -> Response:
    """The pages' first-party scripts (`_` keeps the path clear of every account slug)."""
    body = script(name)
    if body is None:
        return Response(status_code=404)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "Cache-Control": "public, max-age=300",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def _page(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    account_slug: str,
    funnel_slug: str,
    step_slug: str | None,
) -> HTMLResponse:
    try:
        visit = load(db, account_slug, funnel_slug, step_slug)
    except NotFound:
        return not_found()
    if visit.live.step["step_type"] == "thank_you":
        order = buyer.from_cookie(db, request, visit.live.account_id)
        if order is not None:
            view = buyer.receipt_view(db, visit.live.account_id, order)
            return render(
                request, visit, settings, receipt=with_receipt(page_html(visit, settings), view)
            )
    return render(request, visit, settings, db=db)


@router.get("/{account_slug}/{funnel_slug}", response_class=HTMLResponse)
def funnel_entry(
    account_slug: str, funnel_slug: str, request: Request, db: DbSession, settings: SettingsDep
) -> HTMLResponse:
    """The first page of a live funnel, as last published."""
    return _page(request, db, settings, account_slug, funnel_slug, None)


@router.get("/{account_slug}/{funnel_slug}/{step_slug}", response_class=HTMLResponse)
def funnel_step(
    account_slug: str,
    funnel_slug: str,
    step_slug: str,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
) -> HTMLResponse:
    """One step of a live funnel, as last published."""
    return _page(request, db, settings, account_slug, funnel_slug, step_slug)
