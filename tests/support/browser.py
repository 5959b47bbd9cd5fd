"""A real headless Chromium (Debian's package) driven by Playwright, for e2e tests.

`playwright install` cannot download its own browser here, so the tests use the system's:
CHROMIUM_PATH (default /usr/bin/chromium). `./dev test` installs it with apt-get when it
can; when it is missing the browser tests fail (never skip) saying what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MISSING = "Debian's chromium is missing: apt-get install chromium (or set CHROMIUM_PATH)"


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright Browser, closed (with Playwright's driver) at the end."""
    path = Path(CHROMIUM_PATH)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{MISSING}; looked for {CHROMIUM_PATH}", pytrace=False)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        try:
            browser = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(f"Chromium at {CHROMIUM_PATH} did not start: {exc}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
