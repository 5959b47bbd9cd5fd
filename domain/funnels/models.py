"""Tables of the funnel builder: funnels, their steps, published snapshots, templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin, utcnow

FunnelType = Literal[
    "lead_generation", "sales", "webinar", "product_launch", "membership", "tripwire"
]
FunnelStatus = Literal["draft", "active", "paused", "archived"]
StepType = Literal[
    "page",
    "optin",
    "sales",
    "order_form",
    "upsell",
    "downsell",
    "order_bump",
    "webinar",
    "thank_you",
]
FUNNEL_STATUSES: tuple[str, ...] = get_args(FunnelStatus)
# Steps that sell something: they name a product of the catalogue.
OFFER_STEP_TYPES = ("order_form", "upsell", "downsell", "order_bump")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Funnel(IdMixin, TenantMixin, TimestampMixin, Base):
    """A funnel: the draft lives in this row and its steps; publishes are snapshots."""

    __tablename__ = "funnels"
    __table_args__ = (
        UniqueConstraint("account_id", "slug"),
        CheckConstraint(_in("status", FUNNEL_STATUSES), name="status_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_funnels_account_id_created_at", "account_id", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    funnel_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The edit counter: 1 at creation, +1 on every change to the funnel or its steps.
    version: Mapped[int] = mapped_column(default=1)
    # The edit version the live snapshot was taken at (None until the first publish).
    published_version: Mapped[int | None]
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class FunnelStep(IdMixin, TenantMixin, TimestampMixin, Base):
    """One step of a funnel, at a dense position 0..n-1."""

    __tablename__ = "funnel_steps"
    __table_args__ = (
        UniqueConstraint("funnel_id", "slug"),
        # Deferred so a reorder can move every step within one transaction.
        UniqueConstraint("funnel_id", "position", deferrable=True, initially="DEFERRED"),
        CheckConstraint("position >= 0", name="position_non_negative"),
    )

    funnel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funnels.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    step_type: Mapped[str] = mapped_column(String(32))
    page_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pages.id", ondelete="SET NULL"), index=True
    )
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id"), index=True)
    bump_product_ids: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FunnelVersion(IdMixin, TenantMixin, Base):
    """What a funnel looked like when it was published, addressed by its edit version."""

    __tablename__ = "funnel_versions"
    __table_args__ = (UniqueConstraint("funnel_id", "version"),)

    funnel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funnels.id", ondelete="CASCADE"))
    version: Mapped[int]
    snapshot: Mapped[dict[str, Any]]
    published_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class FunnelTemplate(IdMixin, TimestampMixin, Base):
    """A ready-made funnel of the shared library (not owned by an account)."""

    __tablename__ = "funnel_templates"

    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]]
