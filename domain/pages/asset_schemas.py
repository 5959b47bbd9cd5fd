"""Response shapes of page assets."""

from __future__ import annotations

import uuid
from datetime import datetime

from domain.pages.models import PageAsset
from domain.shared.schemas import OutputModel


class AssetOut(OutputModel):
    """An uploaded image or file of a page, with the public URL it is served at."""

    id: uuid.UUID
    page_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    url: str
    created_at: datetime

    @classmethod
    def of(cls, asset: PageAsset, base_url: str) -> AssetOut:
        """The answer for one stored asset; base_url is settings.asset_base_url."""
        return cls(
            id=asset.id,
            page_id=asset.page_id,
            filename=asset.filename,
            content_type=asset.content_type,
            size_bytes=asset.size_bytes,
            sha256=asset.sha256,
            url=asset_url(base_url, asset.storage_key),
            created_at=asset.created_at,
        )


def asset_url(base_url: str, storage_key: str) -> str:
    """Where browsers fetch an object: the base URL, then its key."""
    return f"{base_url.rstrip('/')}/{storage_key}"
