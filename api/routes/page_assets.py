"""Images and files uploaded to a page, and the public /media route for local storage."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import FileResponse

from api.deps import CurrentPrincipal, DbSession, Pagination, SettingsDep
from domain.pages import assets
from domain.pages.asset_schemas import AssetOut
from domain.shared.schemas import Page
from domain.shared.settings import Settings

router = APIRouter(prefix="/api/v1/pages", tags=["page assets"])
media_router = APIRouter(include_in_schema=False)

UPLOAD_PATH = r"/api/v1/pages/[^/]+/assets"
# Room for the multipart boundaries and part headers around a file of the largest size.
MULTIPART_OVERHEAD = 64 * 1024


def body_limits(settings: Settings) -> list[tuple[str, int]]:
    """The bigger request body limit of the upload route, for BodySizeLimit."""
    return [(UPLOAD_PATH, settings.asset_max_bytes + MULTIPART_OVERHEAD)]


@router.post(
    "/{page_id}/assets",
    response_model=AssetOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"description": "The file is larger than ASSET_MAX_BYTES (`payload_too_large`)"},
        415: {"description": "Not a PNG, JPEG, GIF, WebP, PDF or MP4, judged by its bytes"},
        503: {"description": "Asset storage is unavailable (`storage_unavailable`)"},
    },
)
def upload_asset(
    page_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF, WebP, PDF or MP4")],
    principal: CurrentPrincipal,
    db: DbSession,
    settings: SettingsDep,
) -> AssetOut:
    """Upload an image or file; its type is judged by its bytes, not its name (else 415)."""
    asset = assets.upload(
        db,
        settings=settings,
        account_id=principal.account_id,
        page_id=page_id,
        filename=file.filename,
        stream=file.file,
    )
    return AssetOut.of(asset, settings.asset_base_url)


@router.get("/{page_id}/assets", response_model=Page[AssetOut])
def list_assets(
    page_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    page: Pagination,
    settings: SettingsDep,
) -> Page[AssetOut]:
    """The page's assets, newest first."""
    rows, total = assets.list_assets(
        db, account_id=principal.account_id, page_id=page_id, page=page
    )
    return Page[AssetOut](
        items=[AssetOut.of(row, settings.asset_base_url) for row in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.delete(
    "/{page_id}/assets/{asset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={503: {"description": "Asset storage is unavailable (`storage_unavailable`)"}},
)
def delete_asset(
    page_id: uuid.UUID,
    asset_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    settings: SettingsDep,
) -> None:
    """Delete the asset and its stored file or S3 object."""
    assets.delete(
        db,
        settings=settings,
        account_id=principal.account_id,
        page_id=page_id,
        asset_id=asset_id,
    )


@media_router.get("/media/{storage_key:path}")
def media(storage_key: str, db: DbSession, settings: SettingsDep) -> FileResponse:
    """A locally stored asset, public, as the type its bytes were judged to be."""
    path, content_type = assets.local_file(db, settings=settings, storage_key=storage_key)
    return FileResponse(
        path,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"},
    )
