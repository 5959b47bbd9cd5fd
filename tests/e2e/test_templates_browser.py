"""The six library templates, published as they come, in a real headless Chromium.

Each template becomes a funnel (from-template, sample products), is published, and every
step's live page is opened at 375, 768 and 1280 px: no horizontal scroll, no console or
page error, no failed request, no request leaving the machine, no empty column, every
button centred under a centred headline, and every countdown evergreen (hours left, not
years). Screenshots go to test-output/templates/ for a person to look at.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live import LiveApp, StubSite

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "templates"
WIDTHS = (375, 768, 1280)


@dataclass
class Published:
    """The live app and the public URL of every published template step."""

    app: str
    stub: StubSite
    steps: list[tuple[str, str, str]]  # (template key, step slug, public URL)


def _api(client: httpx.Client, method: str, path: str, status: int, **kw: Any) -> Any:
    r = client.request(method, path, **kw)
    assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def _publish_library(base: str) -> list[tuple[str, str, str]]:
    """A new account, every template from-template and published: (key, slug, URL)s."""
    with httpx.Client(base_url=base, timeout=20) as client:
        token = _api(
            client,
            "POST",
            "/api/v1/auth/register",
            201,
            json={
                "email": f"templates-{uuid.uuid4().hex[:10]}@example.com",
                "password": "templates test password",
                "account_name": "Template Shop",
            },
        )["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        slug = _api(client, "GET", "/api/v1/account", 200)["slug"]
        library = _api(client, "GET", "/api/v1/funnels/templates?page_size=100", 200)["items"]
        steps = []
        for template in library:
            body = {"template_id": template["id"]}
            funnel = _api(client, "POST", "/api/v1/funnels/from-template", 201, json=body)
            _api(client, "PATCH", f"/api/v1/funnels/{funnel['id']}", 200, json={"status": "active"})
            for step in funnel["steps"]:
                if step["page_id"]:
                    url = f"{base}/f/{slug}/{funnel['slug']}/{step['slug']}"
                    steps.append((template["key"], step["slug"], url))
        return steps


@pytest.fixture(scope="module")
def published() -> Iterator[Published]:
    """uvicorn serving the app (third-party scripts from a local stub), the library live."""
    from domain.shared.settings import get_settings

    stub = StubSite()
    stub.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STRIPE_JS_URL", f"{stub.url}/stripe.js")
            env.setenv("YOUTUBE_EMBED_BASE", f"{stub.url}/youtube/")
            env.setenv("VIMEO_EMBED_BASE", f"{stub.url}/vimeo/")
            get_settings.cache_clear()
            from api.main import create_app

            live = LiveApp(create_app())
            live.start()
            try:
                yield Published(app=live.url, stub=stub, steps=_publish_library(live.url))
            finally:
                live.stop()
    finally:
        get_settings.cache_clear()
        stub.stop()


# What a merchant would see wrong, measured in the page: columns with nothing visible in
# them, buttons not centred in a column whose headline is centred, content wider than the
# screen, and what each countdown shows.
MEASURE = """() => {
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const cols = [...document.querySelectorAll('.el-col')];
  const empty = cols.filter(c => ![...c.children].some(visible)).map(c => c.dataset.elementId);
  const offCentre = [];
  for (const col of cols) {
    if (!col.querySelector(':scope > .el-headline.align-center')) continue;
    const box = col.getBoundingClientRect();
    for (const b of col.querySelectorAll(':scope > .el-button')) {
      const r = b.getBoundingClientRect();
      const drift = Math.abs((r.left - box.left) - (box.right - r.right));
      if (drift > 2) offCentre.push(`${b.dataset.elementId} off by ${drift.toFixed(0)}px`);
    }
  }
  return {
    empty, offCentre,
    scrollWidth: document.documentElement.scrollWidth,
    countdowns: [...document.querySelectorAll('[data-countdown-remaining]')]
      .map(e => e.textContent.trim()),
  };
}"""


def _watch(context: Any, page: Any, published: Published) -> tuple[list[str], list[str]]:
    """Problems the browser reports, and requests to anywhere but the two local servers."""
    problems: list[str] = []
    outside: list[str] = []

    def route(route: Any) -> None:
        if route.request.url.startswith((f"{published.app}/", f"{published.stub.url}/")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    return problems, outside


def test_every_template_step_looks_publishable_at_three_widths(
    browser: Any, published: Published
) -> None:
    assert {key for key, _, _ in published.steps} == {
        "lead-magnet",
        "membership-signup",
        "product-launch",
        "sales-page",
        "tripwire",
        "webinar-registration",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    countdowns = 0
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    try:
        page = context.new_page()
        problems, outside = _watch(context, page, published)
        for key, slug, url in published.steps:
            response = page.goto(url, wait_until="networkidle")
            assert response is not None
            assert response.status == 200, url
            # One load per page, measured at each width in turn (the layout follows).
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.screenshot(path=str(SCREENSHOTS / f"{key}-{slug}-{width}.png"), full_page=True)
                seen = page.evaluate(MEASURE)
                where = f"{key}/{slug} at {width}px"
                if seen["scrollWidth"] > width:
                    failures.append(f"{where}: {seen['scrollWidth'] - width}px horizontal scroll")
                if seen["empty"]:
                    failures.append(f"{where}: empty columns {seen['empty']}")
                if seen["offCentre"]:
                    failures.append(f"{where}: buttons not centred {seen['offCentre']}")
                for shown in seen["countdowns"]:
                    countdowns += 1
                    # Evergreen: a few days at most from the first view, never a far date.
                    if not re.fullmatch(r"(?:[1-7]d )?\d{2}:\d{2}:\d{2}", shown):
                        failures.append(f"{where}: countdown shows {shown!r}")
            page.wait_for_load_state("networkidle")  # what a wider screen loaded lazily
        failures += problems
        failures += [f"left the machine: {u}" for u in outside]
    finally:
        context.close()
    assert countdowns >= 2 * len(WIDTHS)  # the webinar and launch templates have them
    assert failures == [], "\n".join(failures)


def _seconds(shown: str) -> int:
    days, _, clock = shown.rpartition(" ")
    h, m, s = (int(part) for part in clock.split(":"))
    return int(days.rstrip("d") or 0) * 86400 + h * 3600 + m * 60 + s


def test_an_evergreen_countdown_keeps_counting_from_the_first_view(
    browser: Any, published: Published
) -> None:
    url = next(u for key, slug, u in published.steps if (key, slug) == ("product-launch", "launch"))
    timer = "[data-countdown-remaining]"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        first = _seconds(page.locator(timer).inner_text())
        assert 2 * 86400 - 5 <= first <= 2 * 86400  # 48 hours from now
        page.wait_for_timeout(2200)
        page.reload()
        # The same visitor, later: the first view is kept, so the time left went down.
        assert _seconds(page.locator(timer).inner_text()) <= first - 2
    finally:
        context.close()
    fresh = browser.new_context()
    try:
        page = fresh.new_page()
        page.goto(url)
        # Another visitor starts from the full duration.
        assert _seconds(page.locator(timer).inner_text()) >= 2 * 86400 - 2
    finally:
        fresh.close()


def test_template_buttons_link_to_the_funnel_steps(published: Published) -> None:
    url = next(u for key, slug, u in published.steps if (key, slug) == ("sales-page", "sales"))
    funnel_path = url.removeprefix(published.app).rsplit("/", 1)[0]
    html = httpx.get(url, timeout=10).text
    # The hero button and the pricing card both lead to the order step of this funnel.
    assert html.count(f'href="{funnel_path}/order"') == 2
    assert httpx.get(f"{published.app}{funnel_path}/order", timeout=10).status_code == 200
