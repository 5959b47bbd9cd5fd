"""Pure rules of page assets: filename sanitizing and the content-based type check."""

from __future__ import annotations

import io

import pytest

from domain.pages.assets import (
    AssetTooLarge,
    UnsupportedAssetType,
    _scan,
    safe_filename,
)
from domain.shared.errors import InvalidInput
from tests.support import files


@pytest.mark.parametrize(
    ("given", "content_type", "stored"),
    [
        (None, "image/png", "file.png"),
        ("", "application/pdf", "file.pdf"),
        ("..", "image/gif", "file.gif"),
        ("../..", "image/gif", "file.gif"),
        ("a/b/c/d.JPEG", "image/jpeg", "d.JPEG"),
        ("d.png", "image/jpeg", "d.png.jpg"),
        ("weird\x00name\n.png", "image/png", "weird_name_.png"),
        ("清明.png", "image/png", "png.png"),
        ("movie.m4v", "video/mp4", "movie.m4v"),
        ("x" * 300, "image/webp", "x" * 250 + ".webp"),
    ],
)
def test_safe_filename(given: str | None, content_type: str, stored: str) -> None:
    assert safe_filename(given, content_type) == stored


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(files.png(), "image/png", id="png"),
        pytest.param(files.jpeg(), "image/jpeg", id="jpeg"),
        pytest.param(files.GIF, "image/gif", id="gif"),
        pytest.param(files.WEBP, "image/webp", id="webp"),
        pytest.param(files.pdf(), "application/pdf", id="pdf"),
        pytest.param(files.MP4, "video/mp4", id="mp4"),
    ],
)
def test_scan_sniffs_allowed_types(data: bytes, content_type: str) -> None:
    size, sha, sniffed = _scan(io.BytesIO(data), 10_000)
    assert (size, sniffed) == (len(data), content_type)
    assert len(sha) == 64


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(files.SVG, id="svg"),
        pytest.param(files.HTML, id="html"),
        pytest.param(b"\x89PN", id="png-prefix"),
        pytest.param(b"%PD", id="pdf-prefix"),
        pytest.param(b"\x00" * 100, id="zeros"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 40, id="zip"),
    ],
)
def test_scan_refuses_anything_else(data: bytes) -> None:
    with pytest.raises(UnsupportedAssetType):
        _scan(io.BytesIO(data), 10_000)


def test_scan_refuses_empty_and_too_large() -> None:
    with pytest.raises(InvalidInput):
        _scan(io.BytesIO(b""), 10)
    with pytest.raises(AssetTooLarge):
        _scan(io.BytesIO(files.png() + b"\x00" * 100), len(files.png()) + 99)
    assert _scan(io.BytesIO(files.png() + b"\x00" * 100), len(files.png()) + 100)[0] == 169
