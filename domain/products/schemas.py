"""Request and response shapes of the product catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from domain.shared.schemas import Cents, Currency, InputModel, OutputModel, PatchModel


class ProductIn(InputModel):
    """A new product."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    price_cents: Cents
    currency: Currency
    active: bool = True


class ProductPatch(PatchModel):
    """Fields of a product to change."""

    nullable = frozenset({"description"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    price_cents: Cents | None = None
    currency: Currency | None = None
    active: bool | None = None


class ProductOut(OutputModel):
    """A product of the catalogue."""

    id: uuid.UUID
    name: str
    description: str | None
    price_cents: int
    currency: str
    active: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
