"""Every query of page assets (and the page lookup uploads need)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from domain.pages.models import Page, PageAsset
from domain.shared.db import paginate
from domain.shared.schemas import PageParams


def page_exists(session: Session, account_id: uuid.UUID, page_id: uuid.UUID) -> bool:
    """Whether the page is one of the account's."""
    found = session.scalar(select(Page.id).where(Page.id == page_id, Page.account_id == account_id))
    return found is not None


def get(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, asset_id: uuid.UUID
) -> PageAsset | None:
    """One asset of one of the account's pages."""
    return session.scalar(
        select(PageAsset).where(
            PageAsset.id == asset_id,
            PageAsset.page_id == page_id,
            PageAsset.account_id == account_id,
        )
    )


def list_assets(
    session: Session, account_id: uuid.UUID, page_id: uuid.UUID, page: PageParams
) -> tuple[list[PageAsset], int]:
    """A page's assets, newest first."""
    stmt = (
        select(PageAsset)
        .where(PageAsset.page_id == page_id, PageAsset.account_id == account_id)
        .order_by(PageAsset.created_at.desc(), PageAsset.id)
    )
    return paginate(session, stmt, page)


def all_for_page(session: Session, account_id: uuid.UUID, page_id: uuid.UUID) -> list[PageAsset]:
    """Every asset of a page."""
    return list(
        session.scalars(
            select(PageAsset).where(
                PageAsset.page_id == page_id, PageAsset.account_id == account_id
            )
        )
    )


def delete_for_page(session: Session, account_id: uuid.UUID, page_id: uuid.UUID) -> None:
    """Delete the rows of every asset of a page."""
    session.execute(
        delete(PageAsset).where(PageAsset.page_id == page_id, PageAsset.account_id == account_id)
    )


def content_type_of(session: Session, storage: str, storage_key: str) -> str | None:
    """The stored content type of an object, if an asset names it (public, so no account)."""
    return session.scalar(
        select(PageAsset.content_type).where(
            PageAsset.storage == storage, PageAsset.storage_key == storage_key
        )
    )
