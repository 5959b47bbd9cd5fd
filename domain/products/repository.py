"""Every query of the product catalogue."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.products.models import Product
from domain.shared.db import like_pattern, paginate
from domain.shared.schemas import PageParams


def get(session: Session, account_id: uuid.UUID, product_id: uuid.UUID) -> Product | None:
    """One of the account's products."""
    return session.scalar(
        select(Product).where(Product.id == product_id, Product.account_id == account_id)
    )


def list_products(
    session: Session,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    search: str | None,
    active: bool | None,
    include_archived: bool,
) -> tuple[list[Product], int]:
    """The account's products, newest first."""
    stmt = select(Product).where(Product.account_id == account_id)
    if not include_archived:
        stmt = stmt.where(Product.archived_at.is_(None))
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if search:
        stmt = stmt.where(Product.name.ilike(like_pattern(search)))
    return paginate(session, stmt.order_by(Product.created_at.desc(), Product.id), page)


def ids_in_account(
    session: Session, account_id: uuid.UUID, product_ids: list[uuid.UUID], *, sellable: bool
) -> set[uuid.UUID]:
    """Which of product_ids are the account's (and, if sellable, active and not archived)."""
    if not product_ids:
        return set()
    stmt = select(Product.id).where(Product.account_id == account_id, Product.id.in_(product_ids))
    if sellable:
        stmt = stmt.where(Product.active.is_(True), Product.archived_at.is_(None))
    return set(session.scalars(stmt))


def get_many(
    session: Session, account_id: uuid.UUID, product_ids: list[uuid.UUID]
) -> list[Product]:
    """The account's products among product_ids."""
    if not product_ids:
        return []
    return list(
        session.scalars(
            select(Product).where(Product.account_id == account_id, Product.id.in_(product_ids))
        )
    )
