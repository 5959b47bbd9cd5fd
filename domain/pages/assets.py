"""Use cases of page assets: upload, list, delete, and serving local files.

An upload writes the object first and the row second. If the row cannot be written
(flush) the object is deleted at once; if the transaction later rolls back (a failed
commit), the after-rollback hook below deletes it. Either way no object is left
without its row.

A delete removes the object first and the row second, in the caller's transaction. A
missing object counts as deleted, so if the store fails the row stays and the client's
retry finishes the job; if the commit fails after the object is gone, the row points at
nothing and the same retry removes it. The reverse order would instead leak objects
nobody can find any more.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from pathlib import Path
from typing import BinaryIO

import filetype  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.orm import Session

from domain.pages import asset_repository as repo
from domain.pages.models import PageAsset
from domain.pages.storage import LocalStorage, Storage, StorageError, storage_for
from domain.shared.errors import AppError, InvalidInput, NotFound, ServiceUnavailable
from domain.shared.schemas import PageParams
from domain.shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Sniffed content type -> extensions accepted for it (the first is the one we give).
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "application/pdf": ("pdf",),
    "video/mp4": ("mp4", "m4v"),
}
MAX_FILENAME = 255
_CHUNK = 1024 * 1024
_SNIFF_BYTES = 8192  # what filetype looks at
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_WRITTEN = "assets_written"


class AssetTooLarge(AppError):
    """The upload is over settings.asset_max_bytes."""

    status_code = 413
    code = "payload_too_large"
    message = "File too large"


class UnsupportedAssetType(AppError):
    """The bytes are not one of the allowed types, whatever the name or declared type say."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Unsupported file type"


def upload(
    session: Session,
    *,
    settings: Settings,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    filename: str | None,
    stream: BinaryIO,
) -> PageAsset:
    """Check, store and record one file (stream must be seekable) of one of the account's pages."""
    if not repo.page_exists(session, account_id, page_id):
        raise NotFound("Page not found")
    size, sha256, content_type = _scan(stream, settings.asset_max_bytes)
    asset_id = uuid.uuid4()
    name = safe_filename(filename, content_type)
    key = f"{account_id}/{asset_id}/{name}"
    stream.seek(0)
    try:
        storage = storage_for(settings)
        storage.put(key, stream, content_type)
    except StorageError as exc:
        raise _unavailable(exc) from exc
    asset = PageAsset(
        id=asset_id,
        account_id=account_id,
        page_id=page_id,
        filename=name,
        content_type=content_type,
        size_bytes=size,
        sha256=sha256,
        storage=storage.name,
        storage_key=key,
    )
    session.add(asset)
    try:
        session.flush()
    except Exception:
        _discard(storage, key)
        raise
    session.info.setdefault(_WRITTEN, []).append((storage, key))
    return asset


def list_assets(
    session: Session, *, account_id: uuid.UUID, page_id: uuid.UUID, page: PageParams
) -> tuple[list[PageAsset], int]:
    """A page of one of the account's pages' assets, newest first."""
    if not repo.page_exists(session, account_id, page_id):
        raise NotFound("Page not found")
    return repo.list_assets(session, account_id, page_id, page)


def delete(
    session: Session,
    *,
    settings: Settings,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    asset_id: uuid.UUID,
) -> None:
    """Delete an asset's stored object, then its row (see the module docstring for why)."""
    asset = repo.get(session, account_id, page_id, asset_id)
    if asset is None:
        raise NotFound("Asset not found")
    _remove(settings, asset)
    session.delete(asset)
    session.flush()


def delete_all_for_page(
    session: Session,
    *,
    account_id: uuid.UUID,
    page_id: uuid.UUID,
    settings: Settings | None = None,
) -> int:
    """Delete every stored object and row of a page's assets; call it once a page delete is sure."""
    settings = settings or get_settings()
    assets = repo.all_for_page(session, account_id, page_id)
    for asset in assets:
        _remove(settings, asset)
    repo.delete_for_page(session, account_id, page_id)
    return len(assets)


def local_file(session: Session, *, settings: Settings, storage_key: str) -> tuple[Path, str]:
    """The file on disk and the stored content type of a public local asset, or 404."""
    path = LocalStorage(settings.asset_dir).path_for(storage_key)
    content_type = repo.content_type_of(session, "local", storage_key) if path else None
    if path is None or content_type is None or not path.is_file():
        raise NotFound("File not found")
    return path, content_type


def safe_filename(name: str | None, content_type: str) -> str:
    """A basename of ASCII letters, digits, '.', '_' and '-' with the extension of the content."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    # No leading dot: no hidden files, no '..'.
    base = _UNSAFE.sub("_", base).strip("._-")
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    accepted = ALLOWED_TYPES[content_type]
    # The name says what the bytes are, so anything serving by extension serves the right type.
    if extension.lower() not in accepted:
        stem, extension = base, accepted[0]
    stem = (stem or "file")[: MAX_FILENAME - len(extension) - 1]
    return f"{stem}.{extension}"


def _scan(stream: BinaryIO, max_bytes: int) -> tuple[int, str, str]:
    """Size, sha256 and sniffed content type, read in chunks and stopped past max_bytes."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise AssetTooLarge(f"File larger than {max_bytes} bytes")
        if len(head) < _SNIFF_BYTES:
            head += chunk[: _SNIFF_BYTES - len(head)]
        digest.update(chunk)
    if size == 0:
        raise InvalidInput("The file is empty", code="empty_file")
    kind = filetype.guess(head)
    content_type: str | None = kind.mime if kind is not None else None
    if content_type not in ALLOWED_TYPES:
        raise UnsupportedAssetType(
            "Only PNG, JPEG, GIF, WebP, PDF and MP4 files are accepted (judged by content)"
        )
    assert content_type is not None
    return size, digest.hexdigest(), content_type


def _remove(settings: Settings, asset: PageAsset) -> None:
    # The store the asset was written to, even if the configured one has changed since.
    try:
        storage_for(settings, asset.storage).delete(asset.storage_key)
    except StorageError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: StorageError) -> ServiceUnavailable:
    log.warning("asset storage failed: %s", exc)
    return ServiceUnavailable("Asset storage is unavailable, try again", code="storage_unavailable")


def _discard(storage: Storage, key: str) -> None:
    """Delete an object whose row will not exist; a failure is logged, as nothing can retry it."""
    try:
        storage.delete(key)
    except StorageError:
        log.exception("could not delete orphaned asset object %s (%s)", key, storage.name)


@event.listens_for(Session, "after_commit")
def _keep_after_commit(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


@event.listens_for(Session, "after_rollback")
def _discard_after_rollback(session: Session) -> None:
    for storage, key in session.info.pop(_WRITTEN, []):
        _discard(storage, key)
