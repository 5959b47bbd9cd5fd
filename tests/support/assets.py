"""Helpers of the page asset tests: a page to upload to, uploads, settings for one test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


def create_page(account_id: uuid.UUID) -> uuid.UUID:
    """A draft page of the account, written directly (the assets tests need only its row)."""
    from domain.pages.models import Page
    from domain.shared.db import unit_of_work

    page_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(
            Page(
                id=page_id,
                account_id=account_id,
                name="Assets",
                slug=f"assets-{page_id.hex[:12]}",
                page_type="landing",
                status="draft",
                elements=[],
                seo={},
                version=1,
            )
        )
    return page_id


def upload(
    client: Any,
    headers: dict[str, str],
    page_id: uuid.UUID | str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
) -> Any:
    """POST one file as the multipart field `file`."""
    return client.post(
        f"/api/v1/pages/{page_id}/assets",
        files={"file": (filename, data, content_type)},
        headers=headers,
    )


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    """Set (or, with None, unset) environment variables and re-read the settings.

    The fixture using it clears the cache again at teardown, so the next test reads the
    environment monkeypatch restores.
    """
    from domain.shared.settings import get_settings

    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
