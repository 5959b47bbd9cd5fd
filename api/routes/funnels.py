"""Funnels: CRUD, steps, publishing, versions, clone and templates."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.orm import Session

from api.deps import CurrentPrincipal, DbSession, IfMatchVersion, Pagination
from domain.funnels import service as funnels
from domain.funnels import templates
from domain.funnels.models import Funnel, FunnelStatus, FunnelType
from domain.funnels.schemas import (
    CloneIn,
    FromTemplateIn,
    FunnelIn,
    FunnelOut,
    FunnelPatch,
    FunnelSummaryOut,
    FunnelVersionOut,
    StepIn,
    StepOrder,
    StepOut,
    StepPatch,
    TemplateOut,
)
from domain.shared.schemas import Page, SafeStr, page_of

router = APIRouter(prefix="/api/v1/funnels", tags=["funnels"])

SLUG_TAKEN = "the slug is taken (`slug_taken`)"
ARCHIVED = "the funnel is archived (`funnel_archived`)"


def _conflict(*causes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the 409s only the route knows about."""
    return {409: {"description": "Conflicts with the current state: " + "; ".join(causes)}}


VersionNumber = Annotated[int, Path(ge=1, le=2_147_483_647, description="a published edit version")]


def _out(db: Session, funnel: Funnel) -> FunnelOut:
    """A funnel with its ordered steps."""
    return FunnelOut.model_validate(
        {
            **FunnelSummaryOut.model_validate(funnel).model_dump(),
            "settings": funnel.settings,
            "steps": [StepOut.model_validate(s) for s in funnels.steps(db, funnel)],
        }
    )


# Declared before /{funnel_id} so "templates" is never read as a funnel id.
@router.get("/templates", response_model=Page[TemplateOut])
def list_templates(
    _principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    category: FunnelType | None = None,
) -> Page[TemplateOut]:
    """The template library, ordered by category (a funnel type), then name."""
    rows, total = templates.list_templates(db, page=page, category=category)
    return Page[TemplateOut](
        items=[templates.template_out(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/from-template",
    response_model=FunnelOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_conflict(SLUG_TAKEN), 404: {"description": "No template with that id"}},
)
def create_from_template(
    body: FromTemplateIn, principal: CurrentPrincipal, db: DbSession
) -> FunnelOut:
    """Build a draft funnel and its pages from a template; offers not mapped to your
    products get sample products, so the result publishes as it is."""
    funnel = templates.create_from_template(db, account_id=principal.account_id, data=body)
    return _out(db, funnel)


@router.post(
    "",
    response_model=FunnelOut,
    status_code=status.HTTP_201_CREATED,
    responses=_conflict(SLUG_TAKEN),
)
def create_funnel(body: FunnelIn, principal: CurrentPrincipal, db: DbSession) -> FunnelOut:
    """Create a draft funnel, optionally with its steps."""
    return _out(db, funnels.create(db, account_id=principal.account_id, data=body))


@router.get("", response_model=Page[FunnelSummaryOut])
def list_funnels(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    status: FunnelStatus | None = None,
    funnel_type: FunnelType | None = None,
    search: Annotated[SafeStr | None, Query(max_length=200)] = None,
) -> Page[FunnelSummaryOut]:
    """The account's funnels, newest first (without steps)."""
    rows, total = funnels.list_funnels(
        db,
        account_id=principal.account_id,
        page=page,
        status=status,
        funnel_type=funnel_type,
        search=search,
    )
    return page_of(FunnelSummaryOut, rows, total, page)


@router.get("/{funnel_id}", response_model=FunnelOut)
def get_funnel(funnel_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> FunnelOut:
    """One funnel with its steps in order."""
    return _out(db, funnels.get(db, account_id=principal.account_id, funnel_id=funnel_id))


@router.patch(
    "/{funnel_id}",
    response_model=FunnelOut,
    responses=_conflict(
        ARCHIVED, SLUG_TAKEN, "that status change is not allowed (`invalid_status_transition`)"
    ),
)
def update_funnel(
    funnel_id: uuid.UUID,
    body: FunnelPatch,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
    status_param: Annotated[
        FunnelStatus | None,
        Query(alias="status", description="the same as `status` in the body"),
    ] = None,
) -> FunnelOut:
    """Change fields; `status=active` (body or query) checks the funnel and publishes it.

    Name the version you edited (body `version` or `If-Match`) to refuse lost updates.
    """
    if status_param is not None and body.status is None:
        body = body.model_copy(update={"status": status_param})
        body.model_fields_set.add("status")
    funnel = funnels.update(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        data=body,
        expected_version=if_match,
        user_id=principal.user_id,
    )
    return _out(db, funnel)


@router.delete("/{funnel_id}", status_code=status.HTTP_204_NO_CONTENT)
def archive_funnel(
    funnel_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, if_match: IfMatchVersion
) -> None:
    """Archive: visitors no longer see it; it stays readable and can be cloned."""
    funnels.archive(
        db, account_id=principal.account_id, funnel_id=funnel_id, expected_version=if_match
    )


@router.post(
    "/{funnel_id}/clone",
    response_model=FunnelOut,
    status_code=status.HTTP_201_CREATED,
    responses=_conflict(SLUG_TAKEN),
)
def clone_funnel(
    funnel_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    body: CloneIn | None = None,
) -> FunnelOut:
    """A deep copy (steps, and a copy of each page) as a new draft with unique slugs."""
    options = body or CloneIn()
    copy = funnels.clone(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        name=options.name,
        slug=options.slug,
    )
    return _out(db, copy)


# Declared before /steps/{step_id} so "order" is never read as a step id.
@router.put("/{funnel_id}/steps/order", response_model=FunnelOut, responses=_conflict(ARCHIVED))
def reorder_steps(
    funnel_id: uuid.UUID,
    body: StepOrder,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> FunnelOut:
    """Reorder the steps: the body lists every step id exactly once, in the new order."""
    funnels.reorder_steps(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        data=body,
        expected_version=if_match,
    )
    return _out(db, funnels.get(db, account_id=principal.account_id, funnel_id=funnel_id))


@router.post(
    "/{funnel_id}/steps",
    response_model=StepOut,
    status_code=status.HTTP_201_CREATED,
    responses=_conflict(ARCHIVED, SLUG_TAKEN),
)
def add_step(
    funnel_id: uuid.UUID,
    body: StepIn,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> StepOut:
    """Add a step at `position` (default: the end); later steps move along."""
    step = funnels.add_step(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        data=body,
        expected_version=if_match,
    )
    return StepOut.model_validate(step)


@router.patch(
    "/{funnel_id}/steps/{step_id}",
    response_model=StepOut,
    responses=_conflict(ARCHIVED, SLUG_TAKEN),
)
def update_step(
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    body: StepPatch,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> StepOut:
    """Change the fields of a step that were sent."""
    step = funnels.update_step(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        step_id=step_id,
        data=body,
        expected_version=if_match,
    )
    return StepOut.model_validate(step)


@router.delete(
    "/{funnel_id}/steps/{step_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_conflict(ARCHIVED),
)
def delete_step(
    funnel_id: uuid.UUID,
    step_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> None:
    """Remove a step; the steps after it move up, so the order stays 0..n-1."""
    funnels.delete_step(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        step_id=step_id,
        expected_version=if_match,
    )


@router.get("/{funnel_id}/versions", response_model=Page[FunnelVersionOut])
def list_versions(
    funnel_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession, page: Pagination
) -> Page[FunnelVersionOut]:
    """The snapshots taken at each publish, newest first; `live` marks what visitors see."""
    funnel, rows, total = funnels.list_versions(
        db, account_id=principal.account_id, funnel_id=funnel_id, page=page
    )
    return Page[FunnelVersionOut](
        items=[
            FunnelVersionOut.model_validate(
                {
                    "version": r.version,
                    "live": funnel.status == "active" and r.version == funnel.published_version,
                    "published_by": r.published_by,
                    "created_at": r.created_at,
                    "snapshot": r.snapshot,
                }
            )
            for r in rows
        ],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/{funnel_id}/versions/{version}/restore",
    response_model=FunnelOut,
    responses=_conflict(ARCHIVED, SLUG_TAKEN),
)
def restore_version(
    funnel_id: uuid.UUID,
    version: VersionNumber,
    principal: CurrentPrincipal,
    db: DbSession,
    if_match: IfMatchVersion,
) -> FunnelOut:
    """Make that published snapshot the draft (a new version); what is live stays until
    the next publish."""
    funnel = funnels.restore_version(
        db,
        account_id=principal.account_id,
        funnel_id=funnel_id,
        version=version,
        expected_version=if_match,
    )
    return _out(db, funnel)
