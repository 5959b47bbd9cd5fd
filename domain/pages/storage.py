"""Where uploaded asset bytes live: a directory on local disk, or an S3 bucket."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from domain.shared.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

StorageName = Literal["local", "s3"]


class StorageError(Exception):
    """The store could not take or drop an object right now (disk, network, S3 5xx)."""


class Storage(Protocol):
    """An object store addressed by keys like '<account_id>/<asset_id>/<filename>'."""

    name: StorageName

    def put(self, key: str, data: BinaryIO, content_type: str) -> None:
        """Store data (read from its current position) under key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under key; a missing object is not an error."""
        ...


class LocalStorage:
    """Files under one root directory, written atomically."""

    name: StorageName = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path | None:
        """The file of key, or None when key would point outside the root."""
        if "\x00" in key:
            return None
        path = (self.root / key).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            return None
        return path

    def put(self, key: str, data: BinaryIO, content_type: str) -> None:  # noqa: ARG002 - in the row
        """Write to a temporary file beside the target, then rename it into place."""
        path = self._path(key)
        tmp_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Same directory, so the rename is atomic: a reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
                tmp_name = tmp.name
                shutil.copyfileobj(data, tmp, length=1024 * 1024)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            raise StorageError(f"could not write {key}: {exc}") from exc
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)

    def delete(self, key: str) -> None:
        """Remove the file and the directories it leaves empty (up to the root)."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc
        parent = path.parent
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (another asset) or already gone
            parent = parent.parent

    def _path(self, key: str) -> Path:
        path = self.path_for(key)
        if path is None:
            raise StorageError(f"key outside the asset directory: {key!r}")
        return path


class S3Storage:
    """Objects in one S3 (or S3-compatible) bucket."""

    name: StorageName = "s3"

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self.client = client

    def put(self, key: str, data: BinaryIO, content_type: str) -> None:
        """Upload with the content type browsers will be served."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not put {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Delete the object (S3 answers success for a missing key too)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc


@lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, region: str) -> S3Client:
    # Clients are thread-safe and costly to build; a session of its own because the
    # default one is not safe to create clients from in several threads at once.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def storage_for(settings: Settings, name: str | None = None) -> Storage:
    """The store named (an existing asset's), else the configured one: S3 when a bucket is set."""
    if name is None:
        name = "s3" if settings.aws_s3_bucket else "local"
    if name == "local":
        return LocalStorage(settings.asset_dir)
    if name != "s3":
        raise StorageError(f"unknown storage {name!r}")
    if not settings.aws_s3_bucket:
        raise StorageError("the asset is in S3 but AWS_S3_BUCKET is not set")
    return S3Storage(
        settings.aws_s3_bucket,
        _s3_client(settings.aws_s3_endpoint_url or None, settings.aws_region),
    )
