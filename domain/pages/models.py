"""Tables of pages: the editable element tree, published versions, uploaded assets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from domain.shared.db import Base, IdMixin, TenantMixin, TimestampMixin, utcnow


class Page(IdMixin, TenantMixin, TimestampMixin, Base):
    """A page: its draft element tree, and which published version is live."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("account_id", "slug"),
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    funnel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("funnels.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    page_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    elements: Mapped[list[Any]] = mapped_column(default=list)
    seo: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The edit counter: 1 at creation, +1 on every change.
    version: Mapped[int] = mapped_column(default=1)
    # The edit version of the live snapshot while published (kept after unpublish).
    published_version: Mapped[int | None]
    published_at: Mapped[datetime | None]


class PageVersion(IdMixin, TenantMixin, Base):
    """A published page: its tree and the HTML rendered from it, by edit version."""

    __tablename__ = "page_versions"
    __table_args__ = (UniqueConstraint("page_id", "version"),)

    page_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    version: Mapped[int]
    elements: Mapped[list[Any]]
    seo: Mapped[dict[str, Any]]
    html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class PageAsset(IdMixin, TenantMixin, Base):
    """An uploaded image or file and where its bytes are stored."""

    __tablename__ = "page_assets"
    __table_args__ = (
        UniqueConstraint("storage", "storage_key"),
        CheckConstraint("storage IN ('local', 's3')", name="storage_known"),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    )

    page_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage: Mapped[str] = mapped_column(String(8))
    storage_key: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
