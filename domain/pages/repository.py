"""Every query of pages and their published versions."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from domain.funnels.models import Funnel
from domain.pages.models import Page, PageVersion
from domain.shared.db import paginate
from domain.shared.schemas import PageParams


def get(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, *, for_update: bool = False
) -> Page | None:
    """One of the account's pages; for_update locks its row and reloads it from the database."""
    stmt = select(Page).where(Page.id == page_id, Page.account_id == account_id)
    if for_update:
        # populate_existing: a row read earlier in this session must not hide a newer version.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def list_pages(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    funnel_id: uuid.UUID | None,
    status: str | None,
    page_type: str | None,
) -> tuple[list[Page], int]:
    """The account's pages, newest first."""
    stmt = select(Page).where(Page.account_id == account_id)
    if funnel_id is not None:
        stmt = stmt.where(Page.funnel_id == funnel_id)
    if status is not None:
        stmt = stmt.where(Page.status == status)
    if page_type is not None:
        stmt = stmt.where(Page.page_type == page_type)
    return paginate(session, stmt.order_by(Page.created_at.desc(), Page.id), page)


def existing_ids(
    session: Session, account_id: uuid.UUID, page_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these ids are pages of the account."""
    if not page_ids:
        return set()
    rows = session.scalars(
        select(Page.id).where(Page.account_id == account_id, Page.id.in_(list(page_ids)))
    )
    return set(rows)


def slugs_like(
    session: Session, account_id: uuid.UUID, base: str, *, exclude: uuid.UUID | None = None
) -> set[str]:
    """The account's page slugs that are base or start with "base-" (candidates to avoid)."""
    stmt = select(Page.slug).where(
        Page.account_id == account_id,
        (Page.slug == base) | Page.slug.startswith(f"{base}-", autoescape=True),
    )
    if exclude is not None:
        stmt = stmt.where(Page.id != exclude)
    return set(session.scalars(stmt))


def slug_taken(
    session: Session, account_id: uuid.UUID, slug: str, *, exclude: uuid.UUID | None = None
) -> bool:
    """True when another page of the account uses this slug."""
    stmt = select(func.count()).where(Page.account_id == account_id, Page.slug == slug)
    if exclude is not None:
        stmt = stmt.where(Page.id != exclude)
    return session.scalar(stmt) != 0


def funnel_exists(session: Session, account_id: uuid.UUID, funnel_id: uuid.UUID) -> bool:
    """True when the funnel belongs to the account (a page may only join its own funnels)."""
    stmt = select(func.count()).where(Funnel.id == funnel_id, Funnel.account_id == account_id)
    return session.scalar(stmt) != 0


def get_version(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, version: int
) -> PageVersion | None:
    """The snapshot published at this edit version."""
    return session.scalar(
        select(PageVersion).where(
            PageVersion.account_id == account_id,
            PageVersion.page_id == page_id,
            PageVersion.version == version,
        )
    )


def list_versions(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, page: PageParams
) -> tuple[list[PageVersion], int]:
    """A page's published snapshots, newest first."""
    stmt = (
        select(PageVersion)
        .where(PageVersion.account_id == account_id, PageVersion.page_id == page_id)
        # a list never shows the tree or the HTML, so they stay in the database
        .options(defer(PageVersion.html), defer(PageVersion.elements), defer(PageVersion.seo))
        .order_by(PageVersion.version.desc())
    )
    return paginate(session, stmt, page)
