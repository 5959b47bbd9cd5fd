"""Pages and their element trees: CRUD, publish, preview, versions, the element library."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import HTMLResponse

from api.deps import CurrentPrincipal, DbSession, IfMatchVersion, Pagination
from domain.pages import elements
from domain.pages import service as pages
from domain.pages.render import content_security_policy
from domain.pages.schemas import (
    Device,
    ElementInsert,
    ElementLibraryOut,
    ElementTypeOut,
    PageIn,
    PageOut,
    PagePatch,
    PageStatus,
    PageSummaryOut,
    PageType,
    PageVersionOut,
)
from domain.shared.schemas import Page, page_of

router = APIRouter(prefix="/api/v1/pages", tags=["pages"])

SLUG_TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"description": "Conflicts with the current state: the slug is taken (`slug_taken`)"}
}

VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647, description="a published edit version")]


# Declared before the /{page_id} routes so "elements" is never read as a page id.
@router.get("/elements/library", response_model=ElementLibraryOut)
def element_library(_principal: CurrentPrincipal) -> ElementLibraryOut:
    """Every element type: the JSON schema of its props, what it may contain, its category."""
    return ElementLibraryOut(
        elements=[ElementTypeOut.model_validate(e) for e in elements.library()],
        max_depth=elements.MAX_DEPTH,
        max_nodes=elements.MAX_NODES,
    )


@router.post("", response_model=PageOut, status_code=status.HTTP_201_CREATED, responses=SLUG_TAKEN)
def create_page(body: PageIn, principal: CurrentPrincipal, db: DbSession) -> PageOut:
    """Create a draft page; an invalid element tree is a 422 pointing at each bad node."""
    return PageOut.model_validate(pages.create(db, account_id=principal.account_id, data=body))


@router.get("", response_model=Page[PageSummaryOut])
def list_pages(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    funnel_id: uuid.UUID | None = None,
    status: PageStatus | None = None,
    page_type: PageType | None = None,
) -> Page[PageSummaryOut]:
    """The account's pages, newest first, without their element trees."""
    rows, total = pages.list_pages(
        db,
        account_id=principal.account_id,
        page=page,
        funnel_id=funnel_id,
        status=status,
        page_type=page_type,
    )
    return page_of(PageSummaryOut, rows, total, page)


@router.get("/{page_id}", response_model=PageOut)
def get_page(page_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> PageOut:
    """One page with its draft element tree."""
    return PageOut.model_validate(pages.get(db, account_id=principal.account_id, page_id=page_id))


@router.patch("/{page_id}", response_model=PageOut, responses=SLUG_TAKEN)
def update_page(
    page_id: uuid.UUID,
    body: PagePatch,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> PageOut:
    """Change the fields sent; a stale `version` (body or If-Match) is 409 version_conflict."""
    return PageOut.model_validate(
        pages.update(
            db, account_id=principal.account_id, page_id=page_id, data=body, if_match=if_match
        )
    )


@router.delete(
    "/{page_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        409: {"description": "A live funnel or a running split test shows it (`page_in_use`)"}
    },
)
def delete_page(page_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> None:
    """Delete a page and its assets; 409 page_in_use while an active funnel shows it."""
    pages.delete(db, account_id=principal.account_id, page_id=page_id)


@router.post("/{page_id}/publish", response_model=PageOut)
def publish_page(page_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> PageOut:
    """Validate, render and snapshot the draft at its version, and make it live."""
    return PageOut.model_validate(
        pages.publish(db, account_id=principal.account_id, page_id=page_id)
    )


@router.post(
    "/{page_id}/unpublish",
    response_model=PageOut,
    responses={
        409: {
            "description": "The page is not published (`not_published`); a live funnel or a"
            " running split test shows it (`page_in_use`)"
        }
    },
)
def unpublish_page(page_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> PageOut:
    """Take the page offline; 409 not_published when it is not live."""
    return PageOut.model_validate(
        pages.unpublish(db, account_id=principal.account_id, page_id=page_id)
    )


@router.get(
    "/{page_id}/preview",
    response_class=HTMLResponse,
    response_model=str,
    responses={200: {"description": "The draft as a full HTML document"}},
)
def preview_page(
    page_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    device: Annotated[
        Device, Query(description="container width: desktop 1200, tablet 768, mobile 375 px")
    ] = "desktop",
) -> HTMLResponse:
    """The draft rendered exactly as publishing would, at a device's width."""
    html = pages.preview(db, account_id=principal.account_id, page_id=page_id, device=device)
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": content_security_policy(),
        },
    )


@router.post("/{page_id}/elements", response_model=PageOut, status_code=status.HTTP_201_CREATED)
def insert_element(
    page_id: uuid.UUID,
    body: ElementInsert,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> PageOut:
    """Insert one element under parent_id (null: a section at the root) at position."""
    return PageOut.model_validate(
        pages.insert_element(
            db, account_id=principal.account_id, page_id=page_id, data=body, if_match=if_match
        )
    )


@router.get("/{page_id}/versions", response_model=Page[PageVersionOut])
def list_versions(
    page_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, page: Pagination
) -> Page[PageVersionOut]:
    """The page's published versions, newest first (without their HTML)."""
    owner, rows, total = pages.list_versions(
        db, account_id=principal.account_id, page_id=page_id, page=page
    )
    live = owner.published_version if owner.status == "published" else None
    return Page[PageVersionOut](
        items=[
            PageVersionOut(version=v.version, live=v.version == live, created_at=v.created_at)
            for v in rows
        ],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post("/{page_id}/versions/{version}/restore", response_model=PageOut, responses=SLUG_TAKEN)
def restore_version(
    page_id: uuid.UUID,
    version: VersionNumber,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> PageOut:
    """Make a published version the draft again, as a new version; the live page is untouched."""
    return PageOut.model_validate(
        pages.restore_version(
            db,
            account_id=principal.account_id,
            page_id=page_id,
            version=version,
            if_match=if_match,
        )
    )
