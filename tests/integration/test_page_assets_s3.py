"""Page assets in S3: a real S3 API over HTTP (moto's server) behind the upload endpoints."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import files
from tests.support.assets import create_page, upload, use_settings

BUCKET = "funnels-test-assets"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: an S3 endpoint on a free local port, for this module."""
    from moto.server import ThreadedMotoServer

    from devtools.embedded import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    """An empty bucket, and the app's settings pointing at it."""
    from domain.shared.settings import get_settings

    use_settings(
        monkeypatch,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN=None,
        AWS_S3_BUCKET=BUCKET,
        AWS_S3_ENDPOINT_URL=s3_endpoint,
        AWS_REGION="us-east-1",
        ASSET_DIR=str(tmp_path / "local-assets"),
    )
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    get_settings.cache_clear()


def _keys(s3: Any) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_upload_puts_the_object_and_delete_removes_it(client: Any, tenant: Any, s3: Any) -> None:
    page_id = create_page(tenant.account_id)
    data = files.pdf("In the bucket")
    r = upload(client, tenant.headers, page_id, "terms.pdf", data, "text/plain")
    assert r.status_code == 201, r.text
    asset = r.json()
    key = f"{tenant.account_id}/{asset['id']}/terms.pdf"
    assert asset["url"] == f"/media/{key}"
    assert asset["content_type"] == "application/pdf"

    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "application/pdf"
    assert _keys(s3) == [key]
    # /media serves local storage only.
    assert client.get(asset["url"]).status_code == 404

    path = f"/api/v1/pages/{page_id}/assets/{asset['id']}"
    assert client.delete(path, headers=tenant.headers).status_code == 204
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=BUCKET, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"
    assert (
        client.get(f"/api/v1/pages/{page_id}/assets", headers=tenant.headers).json()["total"] == 0
    )


def test_refused_uploads_put_nothing(client: Any, tenant: Any, other_tenant: Any, s3: Any) -> None:
    page_id = create_page(tenant.account_id)
    assert upload(client, tenant.headers, page_id, "x.png", files.HTML).status_code == 415
    assert upload(client, tenant.headers, page_id, "x.png", b"").status_code == 422
    assert upload(client, other_tenant.headers, page_id, "x.png", files.png()).status_code == 404
    assert _keys(s3) == []


def test_delete_all_for_page_deletes_every_object(client: Any, tenant: Any, s3: Any) -> None:
    from domain.pages import assets
    from domain.shared.db import unit_of_work

    page_id, other_page = create_page(tenant.account_id), create_page(tenant.account_id)
    for data in (files.png(), files.jpeg()):
        assert upload(client, tenant.headers, page_id, "a", data).status_code == 201
    kept = upload(client, tenant.headers, other_page, "b.gif", files.GIF).json()
    with unit_of_work() as session:
        assert (
            assets.delete_all_for_page(session, account_id=tenant.account_id, page_id=page_id) == 2
        )
    assert _keys(s3) == [kept["url"].removeprefix("/media/")]


def test_a_failed_row_write_leaves_no_object(
    tenant: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page is deleted (really, by another connection) after the object is put."""
    from sqlalchemy import delete
    from sqlalchemy.exc import IntegrityError

    from domain.pages import assets, storage
    from domain.pages.models import Page
    from domain.shared.db import get_engine, unit_of_work
    from domain.shared.settings import get_settings

    page_id = create_page(tenant.account_id)
    put: list[str] = []

    class PageVanishesWhileUploading(storage.S3Storage):
        def put(self, key: str, data: Any, content_type: str) -> None:
            super().put(key, data, content_type)
            put.append(key)
            with get_engine().begin() as conn:
                conn.execute(delete(Page).where(Page.id == page_id))

    def storage_for(settings: Any, name: str | None = None) -> storage.Storage:
        real = storage.storage_for(settings, name)
        assert isinstance(real, storage.S3Storage)
        return PageVanishesWhileUploading(real.bucket, real.client)

    monkeypatch.setattr(assets, "storage_for", storage_for)
    with pytest.raises(IntegrityError), unit_of_work() as session:
        assets.upload(
            session,
            settings=get_settings(),
            account_id=tenant.account_id,
            page_id=page_id,
            filename="x.png",
            stream=io.BytesIO(files.png()),
        )
    assert put  # the object was really written before the row failed
    assert _keys(s3) == []


def test_storage_down_is_503_and_leaves_nothing(
    client: Any, tenant: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.embedded import free_port

    page_id = create_page(tenant.account_id)
    use_settings(monkeypatch, AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    r = upload(client, tenant.headers, page_id, "x.png", files.png())
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "storage_unavailable"
    assert (
        client.get(f"/api/v1/pages/{page_id}/assets", headers=tenant.headers).json()["total"] == 0
    )
    assert _keys(s3) == []
