"""Page assets on local disk: upload checks, storage, /media, list, delete, tenancy."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import files
from tests.support.assets import create_page, upload, use_settings
from tests.support.tenancy import assert_isolated


@pytest.fixture
def asset_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Local storage in a directory of this test's own."""
    from domain.shared.settings import get_settings

    directory = tmp_path / "assets"
    use_settings(monkeypatch, ASSET_DIR=str(directory), AWS_S3_BUCKET=None)
    yield directory
    get_settings.cache_clear()


@pytest.fixture
def page_id(tenant: Any, asset_dir: Path) -> uuid.UUID:
    """A page of the tenant's to upload to."""
    return create_page(tenant.account_id)


def _stored_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def _asset_rows(page_id: uuid.UUID) -> int:
    from sqlalchemy import func, select

    from domain.pages.models import PageAsset
    from domain.shared.db import unit_of_work

    with unit_of_work() as session:
        return (
            session.scalar(
                select(func.count()).select_from(PageAsset).where(PageAsset.page_id == page_id)
            )
            or 0
        )


@pytest.mark.parametrize(
    ("filename", "data", "content_type"),
    [
        pytest.param("pixel.png", files.png(3, 2), "image/png", id="png"),
        pytest.param("photo.jpeg", files.jpeg(), "image/jpeg", id="jpeg"),
        pytest.param("terms.pdf", files.pdf(), "application/pdf", id="pdf"),
        pytest.param("anim.gif", files.GIF, "image/gif", id="gif"),
        pytest.param("small.webp", files.WEBP, "image/webp", id="webp"),
        pytest.param("clip.mp4", files.MP4, "video/mp4", id="mp4"),
    ],
)
def test_upload_stores_the_file_and_media_serves_it_back(
    client: Any,
    tenant: Any,
    page_id: uuid.UUID,
    asset_dir: Path,
    filename: str,
    data: bytes,
    content_type: str,
) -> None:
    # The declared type is deliberately wrong: only the bytes count.
    r = upload(client, tenant.headers, page_id, filename, data, "text/plain")
    assert r.status_code == 201, r.text
    asset = r.json()
    assert asset["page_id"] == str(page_id)
    assert asset["filename"] == filename
    assert asset["content_type"] == content_type
    assert asset["size_bytes"] == len(data)
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    key = f"{tenant.account_id}/{asset['id']}/{filename}"
    assert asset["url"] == f"/media/{key}"
    assert (asset_dir / key).read_bytes() == data
    assert _stored_files(asset_dir) == [asset_dir / key]  # no temporary file left behind

    served = client.get(asset["url"])
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == content_type
    assert served.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("filename", "data", "declared"),
    [
        pytest.param("innocent.png", files.HTML, "image/png", id="html-named-png"),
        pytest.param("logo.svg", files.SVG, "image/svg+xml", id="svg"),
        pytest.param("logo.png", files.SVG, "image/png", id="svg-named-png"),
        pytest.param("page.html", files.HTML, "text/html", id="html"),
        pytest.param("notes.txt", b"just some text", "text/plain", id="text"),
        pytest.param("archive.zip", b"PK\x03\x04" + b"\x00" * 40, "application/zip", id="zip"),
    ],
)
def test_type_is_judged_by_content_and_refused_with_415(
    client: Any,
    tenant: Any,
    page_id: uuid.UUID,
    asset_dir: Path,
    filename: str,
    data: bytes,
    declared: str,
) -> None:
    r = upload(client, tenant.headers, page_id, filename, data, declared)
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "unsupported_media_type"
    assert _stored_files(asset_dir) == []
    assert _asset_rows(page_id) == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/pass wd.png", "pass_wd.png"),
        ("C:\\Users\\me\\Desktop\\Photo.PNG", "Photo.PNG"),
        ("évasion <script>.png", "evasion_script_.png"),
        (".hidden.png", "hidden.png"),
        ("evil.html", "evil.html.png"),
        ("no-extension", "no-extension.png"),
        ("a" * 400 + ".png", "a" * 251 + ".png"),
    ],
)
def test_stored_filename_is_a_safe_basename_with_the_real_extension(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path, given: str, stored: str
) -> None:
    r = upload(client, tenant.headers, page_id, given, files.png(), "image/png")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == stored
    assert len(stored) <= 255
    assert [p.name for p in _stored_files(asset_dir)] == [stored]


def test_empty_file_is_422(client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path) -> None:
    r = upload(client, tenant.headers, page_id, "empty.png", b"", "image/png")
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "empty_file"
    assert _stored_files(asset_dir) == []


def test_missing_file_field_is_422(client: Any, tenant: Any, page_id: uuid.UUID) -> None:
    r = client.post(f"/api/v1/pages/{page_id}/assets", data={"other": "x"}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


def test_upload_bigger_than_the_global_body_limit_passes(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    # 2 MiB: over the global 1 MiB body limit, under the 10 MiB asset limit.
    data = files.png() + b"\x00" * (2 * 1024 * 1024)
    r = upload(client, tenant.headers, page_id, "big.png", data, "image/png")
    assert r.status_code == 201, r.text
    assert r.json()["size_bytes"] == len(data)
    # Other routes keep the global limit.
    r = client.post("/api/v1/products", content=b"x" * (1024 * 1024 + 1), headers=tenant.headers)
    assert r.status_code == 413


@pytest.fixture
def small_limit_client(asset_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An app built with ASSET_MAX_BYTES=2000, so its middleware limit is 2000 + 64 KiB."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    use_settings(monkeypatch, ASSET_MAX_BYTES="2000")
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _multipart(data: bytes, boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    ("size", "how"),
    [
        (2001, "declared"),  # within the middleware's limit: the route counts and refuses
        (2000 + 64 * 1024 + 1, "declared"),  # the middleware refuses on Content-Length
        (2000 + 64 * 1024 + 1, "streamed"),  # chunked, no Content-Length: counted as it comes
    ],
)
def test_too_large_is_413_and_nothing_is_stored(
    small_limit_client: Any,
    tenant: Any,
    page_id: uuid.UUID,
    asset_dir: Path,
    size: int,
    how: str,
) -> None:
    data = files.png() + b"\x00" * (size - len(files.png()))
    body, headers = _multipart(data)
    headers.update(tenant.headers)
    url = f"/api/v1/pages/{page_id}/assets"
    if how == "declared":
        r = small_limit_client.post(url, content=body, headers=headers)
    else:
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        r = small_limit_client.post(url, content=chunks, headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "payload_too_large"
    assert _stored_files(asset_dir) == []
    assert _asset_rows(page_id) == 0
    # Exactly at the limit is fine.
    ok = upload(small_limit_client, tenant.headers, page_id, "ok.png", data[:2000], "image/png")
    assert ok.status_code == 201, ok.text


def test_list_is_paginated_newest_first(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    ids = []
    for name in ("one.png", "two.pdf", "three.jpg"):
        data = files.pdf() if name.endswith(".pdf") else files.png()
        if name.endswith(".jpg"):
            data = files.jpeg()
        r = upload(client, tenant.headers, page_id, name, data)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    path = f"/api/v1/pages/{page_id}/assets"
    listed = client.get(path, headers=tenant.headers).json()
    assert listed["total"] == 3
    assert [a["id"] for a in listed["items"]] == ids[::-1]
    assert [a["filename"] for a in listed["items"]] == ["three.jpg", "two.pdf", "one.png"]
    second = client.get(f"{path}?page=2&page_size=2", headers=tenant.headers).json()
    assert second["total"] == 3
    assert [a["id"] for a in second["items"]] == [ids[0]]
    assert second["page"] == 2
    # Another page of the same account has none.
    empty = create_page(tenant.account_id)
    assert client.get(f"/api/v1/pages/{empty}/assets", headers=tenant.headers).json()["total"] == 0


def test_delete_removes_the_row_and_the_file(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    kept = upload(client, tenant.headers, page_id, "kept.png", files.png()).json()
    gone = upload(client, tenant.headers, page_id, "gone.png", files.png(2, 2)).json()
    path = f"/api/v1/pages/{page_id}/assets/{gone['id']}"
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert not (asset_dir / str(tenant.account_id) / gone["id"]).exists()
    assert client.get(gone["url"]).status_code == 404
    listed = client.get(f"/api/v1/pages/{page_id}/assets", headers=tenant.headers).json()
    assert [a["id"] for a in listed["items"]] == [kept["id"]]
    assert client.get(kept["url"]).content == files.png()
    r = client.delete(path, headers=tenant.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_delete_of_an_asset_whose_file_is_already_gone_still_succeeds(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    asset = upload(client, tenant.headers, page_id, "x.png", files.png()).json()
    (asset_dir / str(tenant.account_id) / asset["id"] / "x.png").unlink()
    path = f"/api/v1/pages/{page_id}/assets/{asset['id']}"
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert _asset_rows(page_id) == 0


def test_delete_all_for_page_removes_every_object_and_row(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    from domain.pages import assets
    from domain.shared.db import unit_of_work

    other_page = create_page(tenant.account_id)
    for name in ("a.png", "b.pdf"):
        data = files.pdf() if name.endswith(".pdf") else files.png()
        assert upload(client, tenant.headers, page_id, name, data).status_code == 201
    other = upload(client, tenant.headers, other_page, "c.png", files.png()).json()
    with unit_of_work() as session:
        removed = assets.delete_all_for_page(session, account_id=tenant.account_id, page_id=page_id)
    assert removed == 2
    assert _asset_rows(page_id) == 0
    assert _stored_files(asset_dir) == [asset_dir / other["url"].removeprefix("/media/")]


def test_another_account_gets_404_and_changes_nothing(
    client: Any, tenant: Any, other_tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    asset = upload(client, tenant.headers, page_id, "mine.png", files.png()).json()
    base = f"/api/v1/pages/{page_id}/assets"

    def snapshot() -> Any:
        listed = client.get(base, headers=tenant.headers).json()
        return listed, [p.read_bytes() for p in _stored_files(asset_dir)]

    before = snapshot()
    r = upload(client, other_tenant.headers, page_id, "theirs.png", files.png())
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"
    assert snapshot() == before
    assert_isolated(
        client,
        other_tenant.headers,
        [("GET", base, None), ("DELETE", f"{base}/{asset['id']}", None)],
        snapshot,
    )
    # The intruder's own page cannot reach the owner's asset either.
    theirs = create_page(other_tenant.account_id)
    r = client.delete(f"/api/v1/pages/{theirs}/assets/{asset['id']}", headers=other_tenant.headers)
    assert r.status_code == 404
    assert snapshot() == before


def test_unknown_page_is_404(client: Any, tenant: Any, asset_dir: Path) -> None:
    r = upload(client, tenant.headers, uuid.uuid4(), "x.png", files.png())
    assert r.status_code == 404
    r = client.get(f"/api/v1/pages/{uuid.uuid4()}/assets", headers=tenant.headers)
    assert r.status_code == 404
    assert _stored_files(asset_dir) == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("DELETE", "/not-a-uuid"), ("DELETE", "/12345"), ("GET", "")],
)
def test_bad_uuids_are_422(
    client: Any, tenant: Any, page_id: uuid.UUID, method: str, suffix: str
) -> None:
    page = "not-a-uuid" if method == "GET" else page_id
    r = client.request(method, f"/api/v1/pages/{page}/assets{suffix}", headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"


def test_auth_is_required(client: Any, page_id: uuid.UUID, asset_dir: Path) -> None:
    r = upload(client, {}, page_id, "x.png", files.png())
    assert r.status_code == 401
    assert client.get(f"/api/v1/pages/{page_id}/assets").status_code == 401
    assert _stored_files(asset_dir) == []


def test_media_cannot_leave_the_asset_directory(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path, tmp_path: Path
) -> None:
    from domain.pages.models import PageAsset
    from domain.shared.db import unit_of_work

    # A real file outside the directory, and a row naming it: only the path check stands
    # between a request and that file.
    (tmp_path / "secret.png").write_bytes(files.png())
    (asset_dir / "inside").mkdir(parents=True)
    with unit_of_work() as session:
        session.add(
            PageAsset(
                account_id=tenant.account_id,
                page_id=page_id,
                filename="secret.png",
                content_type="image/png",
                size_bytes=1,
                sha256="0" * 64,
                storage="local",
                storage_key="inside/../../secret.png",
            )
        )
    for path in (
        "/media/inside/..%2F..%2Fsecret.png",
        "/media/inside/%2e%2e/%2e%2e/secret.png",
        "/media/..%2Fsecret.png",
        f"/media/{tmp_path}/secret.png",
        "/media/%2Fetc%2Fpasswd",
        "/media/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/media/a%00b",
        "/media/",
    ):
        r = client.get(path)
        assert r.status_code == 404, f"{path}: {r.status_code}"
        assert r.json()["code"] == "not_found", path


def test_media_serves_only_files_an_asset_names(
    client: Any, tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    stray = asset_dir / str(tenant.account_id) / "stray.png"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(files.png())
    r = client.get(f"/media/{tenant.account_id}/stray.png")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_a_failed_row_write_leaves_no_file(
    tenant: Any, page_id: uuid.UUID, asset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page is deleted (really, by another connection) after the file is written."""
    import io

    from sqlalchemy import delete
    from sqlalchemy.exc import IntegrityError

    from domain.pages import assets
    from domain.pages.models import Page
    from domain.pages.storage import LocalStorage
    from domain.shared.db import get_engine, unit_of_work
    from domain.shared.settings import get_settings

    written: list[str] = []

    class PageVanishesWhileWriting(LocalStorage):
        def put(self, key: str, data: Any, content_type: str) -> None:
            super().put(key, data, content_type)
            written.append(key)
            assert (asset_dir / key).exists()
            with get_engine().begin() as conn:
                conn.execute(delete(Page).where(Page.id == page_id))

    def storage_for(settings: Any, name: str | None = None) -> LocalStorage:
        return PageVanishesWhileWriting(settings.asset_dir)

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
    assert written
    assert _stored_files(asset_dir) == []


def test_a_rolled_back_upload_leaves_no_file(
    tenant: Any, page_id: uuid.UUID, asset_dir: Path
) -> None:
    """The row was flushed but its transaction never commits (as when the commit fails)."""
    import io

    from domain.pages import assets
    from domain.shared.db import unit_of_work
    from domain.shared.settings import get_settings

    class Boom(Exception):
        pass

    def upload_then_fail() -> None:
        with unit_of_work() as session:
            asset = assets.upload(
                session,
                settings=get_settings(),
                account_id=tenant.account_id,
                page_id=page_id,
                filename="x.png",
                stream=io.BytesIO(files.png()),
            )
            assert (asset_dir / asset.storage_key).exists()
            raise Boom

    with pytest.raises(Boom):
        upload_then_fail()
    assert _stored_files(asset_dir) == []
    assert _asset_rows(page_id) == 0
