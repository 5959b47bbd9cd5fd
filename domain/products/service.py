"""Use cases of the product catalogue."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from domain.products import repository as repo
from domain.products.models import Product
from domain.products.schemas import ProductIn, ProductPatch
from domain.shared.db import utcnow
from domain.shared.errors import NotFound
from domain.shared.schemas import PageParams


def create(session: Session, *, account_id: uuid.UUID, data: ProductIn) -> Product:
    """Add a product to the account's catalogue."""
    product = Product(id=uuid.uuid4(), account_id=account_id, **data.model_dump())
    session.add(product)
    session.flush()
    return product


def get(session: Session, *, account_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    """One of the account's products, or 404."""
    product = repo.get(session, account_id, product_id)
    if product is None:
        raise NotFound("Product not found")
    return product


def list_products(
    session: Session,
    *,
    account_id: uuid.UUID,
    page: PageParams,
    search: str | None = None,
    active: bool | None = None,
    include_archived: bool = False,
) -> tuple[list[Product], int]:
    """A page of the account's catalogue."""
    return repo.list_products(
        session, account_id, page, search=search, active=active, include_archived=include_archived
    )


def update(
    session: Session, *, account_id: uuid.UUID, product_id: uuid.UUID, data: ProductPatch
) -> Product:
    """Change the fields the caller sent."""
    product = get(session, account_id=account_id, product_id=product_id)
    for field, value in data.changes().items():
        setattr(product, field, value)
    session.flush()
    return product


def archive(session: Session, *, account_id: uuid.UUID, product_id: uuid.UUID) -> None:
    """Take a product out of the catalogue; orders and offers that name it keep working."""
    product = get(session, account_id=account_id, product_id=product_id)
    if product.archived_at is None:
        product.archived_at = utcnow()
        product.active = False


def existing_ids(
    session: Session,
    *,
    account_id: uuid.UUID,
    product_ids: list[uuid.UUID],
    sellable: bool = False,
) -> set[uuid.UUID]:
    """Which of product_ids are the account's; with sellable, only active unarchived ones."""
    return repo.ids_in_account(session, account_id, product_ids, sellable=sellable)


def sellable_by_id(
    session: Session, *, account_id: uuid.UUID, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    """The active, unarchived products among product_ids, by id (what may be sold now)."""
    return {
        p.id: p
        for p in repo.get_many(session, account_id, product_ids)
        if p.active and p.archived_at is None
    }
