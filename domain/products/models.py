"""The price catalogue orders are priced from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin


class Product(IdMixin, TenantMixin, TimestampMixin, Base):
    """Something an account sells, at a price in integer cents of one currency."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_cents_non_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)
    archived_at: Mapped[datetime | None]
