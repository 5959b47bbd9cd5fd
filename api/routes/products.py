"""The product catalogue: prices orders are computed from."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentPrincipal, DbSession, Pagination
from domain.products import service as products
from domain.products.schemas import ProductIn, ProductOut, ProductPatch
from domain.shared.schemas import Page, SafeStr, page_of

router = APIRouter(prefix="/api/v1/products", tags=["products"])


@router.post("", response_model=ProductOut, status_code=status.HTTP_201_CREATED)
def create_product(body: ProductIn, principal: CurrentPrincipal, db: DbSession) -> ProductOut:
    """Add a product at a price in integer cents of an ISO currency."""
    return ProductOut.model_validate(
        products.create(db, account_id=principal.account_id, data=body)
    )


@router.get("", response_model=Page[ProductOut])
def list_products(
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    search: Annotated[SafeStr | None, Query(max_length=200)] = None,
    active: bool | None = None,
    include_archived: bool = False,
) -> Page[ProductOut]:
    """The catalogue, newest first; archived products only when asked for."""
    rows, total = products.list_products(
        db,
        account_id=principal.account_id,
        page=page,
        search=search,
        active=active,
        include_archived=include_archived,
    )
    return page_of(ProductOut, rows, total, page)


@router.get("/{product_id}", response_model=ProductOut)
def get_product(product_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> ProductOut:
    """One product (archived ones too: old orders name them)."""
    return ProductOut.model_validate(
        products.get(db, account_id=principal.account_id, product_id=product_id)
    )


@router.patch("/{product_id}", response_model=ProductOut)
def update_product(
    product_id: uuid.UUID, body: ProductPatch, principal: CurrentPrincipal, db: DbSession
) -> ProductOut:
    """Change the fields sent."""
    return ProductOut.model_validate(
        products.update(db, account_id=principal.account_id, product_id=product_id, data=body)
    )


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def archive_product(product_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> None:
    """Archive: gone from the catalogue, still readable for the orders that name it."""
    products.archive(db, account_id=principal.account_id, product_id=product_id)
