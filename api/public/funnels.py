"""Published funnels for visitors: /f/{account_slug}/{funnel_slug}[/{step_slug}]."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import DbSession
from domain.funnels import service as funnels
from domain.pages.render import content_security_policy
from domain.shared.errors import NotFound

router = APIRouter(prefix="/f", include_in_schema=False)

NOT_FOUND_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head>"
    "<body><h1>This page does not exist or is not published.</h1></body></html>"
)
# X-Frame-Options for browsers that predate CSP frame-ancestors.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "public, max-age=60",
}


def _page(
    db: DbSession, account_slug: str, funnel_slug: str, step_slug: str | None
) -> HTMLResponse:
    try:
        html = funnels.live_page_html(
            db, account_slug=account_slug, funnel_slug=funnel_slug, step_slug=step_slug
        )
    except NotFound:
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers={"X-Frame-Options": "DENY"})
    return HTMLResponse(
        html, headers={**HEADERS, "Content-Security-Policy": content_security_policy()}
    )


@router.get("/{account_slug}/{funnel_slug}", response_class=HTMLResponse)
def funnel_entry(account_slug: str, funnel_slug: str, db: DbSession) -> HTMLResponse:
    """The first page of a live funnel, as last published."""
    return _page(db, account_slug, funnel_slug, None)


@router.get("/{account_slug}/{funnel_slug}/{step_slug}", response_class=HTMLResponse)
def funnel_step(account_slug: str, funnel_slug: str, step_slug: str, db: DbSession) -> HTMLResponse:
    """One step of a live funnel, as last published."""
    return _page(db, account_slug, funnel_slug, step_slug)
