"""Page previews in a real headless Chromium, served by a real uvicorn server.

Every element type is rendered at desktop, tablet and mobile width; the browser must see
no console error, no page error, no failed or refused request and no request leaving the
machine (Stripe.js and video embeds point at a local stub site). A sample of XSS payloads
in text props must neither run script nor open a dialog.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import files
from tests.support.live import LiveApp, StubSite
from tests.support.pages import every_element_tree

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
DEVICES = {"desktop": 1200, "tablet": 768, "mobile": 375}


@dataclass
class Site:
    """The live app, the stub third-party site, and an owner's token."""

    app: str
    stub: StubSite
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """The owner's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """uvicorn serving the app, configured to load third-party scripts from the stub site."""
    from domain.shared.settings import get_settings

    stub = StubSite()
    stub.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STRIPE_JS_URL", f"{stub.url}/stripe.js")
            env.setenv("YOUTUBE_EMBED_BASE", f"{stub.url}/youtube/")
            env.setenv("VIMEO_EMBED_BASE", f"{stub.url}/vimeo/")
            env.setenv("ASSET_DIR", str(tmp_path_factory.mktemp("assets")))
            env.delenv("AWS_S3_BUCKET", raising=False)
            get_settings.cache_clear()
            from api.main import create_app

            live = LiveApp(create_app())
            live.start()
            try:
                site = Site(app=live.url, stub=stub)
                site.token = _register(site.app)
                yield site
            finally:
                live.stop()
                get_settings.cache_clear()
    finally:
        stub.stop()
        get_settings.cache_clear()


def _register(base: str) -> str:
    r = httpx.post(
        f"{base}/api/v1/auth/register",
        json={
            "email": f"browser-{uuid.uuid4().hex[:10]}@example.com",
            "password": "browser test password",
            "account_name": "Browser",
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["access_token"])


def _create_page(site: Site, name: str, elements: list[Any], **extra: Any) -> str:
    r = httpx.post(
        f"{site.app}/api/v1/pages",
        json={"name": name, "elements": elements, **extra},
        headers=site.headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@dataclass
class ShowcasePage:
    """A page using every element type, with a real uploaded image and a real product."""

    page_id: str
    image_url: str
    product_id: str


@pytest.fixture(scope="module")
def showcase(site: Site) -> ShowcasePage:
    """Created through the API: product, page, image asset, then the full element tree."""
    r = httpx.post(
        f"{site.app}/api/v1/products",
        json={"name": "Course", "price_cents": 4900, "currency": "USD"},
        headers=site.headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    product_id = r.json()["id"]
    page_id = _create_page(site, "Showcase", [])
    r = httpx.post(
        f"{site.app}/api/v1/pages/{page_id}/assets",
        files={"file": ("hero.png", files.png(240, 120, (30, 120, 200)), "image/png")},
        headers=site.headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    image_url = r.json()["url"]
    r = httpx.patch(
        f"{site.app}/api/v1/pages/{page_id}",
        json={"elements": every_element_tree(image_url=image_url, product_id=product_id)},
        headers=site.headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return ShowcasePage(page_id=page_id, image_url=image_url, product_id=product_id)


@dataclass
class Watch:
    """What the browser reported while a page loaded."""

    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _open(browser: Any, site: Site, width: int) -> tuple[Any, Any, Watch]:
    """A fresh context and page that report problems and only reach the two local servers.

    The preview needs the owner's bearer token: the route adds it to that request only.
    """
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watch = Watch()

    def route(route: Any) -> None:
        url = route.request.url
        if re.match(rf"{re.escape(site.app)}/api/v1/pages/[^/]+/preview", url):
            route.continue_(headers={**route.request.headers, **site.headers})
        elif url.startswith((f"{site.app}/", f"{site.stub.url}/")):
            route.continue_()
        else:
            watch.outside.append(url)
            route.abort()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_response(response: Any) -> None:
        if response.status >= 400:
            watch.problems.append(f"HTTP {response.status} {response.url}")

    def on_console(message: Any) -> None:
        if message.type == "error":
            watch.problems.append(f"console error: {message.text}")

    context.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
    page.on(
        "requestfailed",
        lambda request: watch.problems.append(f"failed: {request.url} {request.failure}"),
    )
    page.on("response", on_response)
    page.on("dialog", on_dialog)
    return context, page, watch


def _load_everything(page: Any) -> None:
    """Scroll to the end so lazy images and iframes load too, then wait for the network."""
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")


@pytest.mark.parametrize("device", list(DEVICES))
def test_every_element_renders_cleanly_in_chromium(
    browser: Any, site: Site, showcase: ShowcasePage, device: str
) -> None:
    width = DEVICES[device]
    url = f"{site.app}/api/v1/pages/{showcase.page_id}/preview?device={device}"
    fetched = httpx.get(url, headers=site.headers, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"].startswith("text/html")

    context, page, watch = _open(browser, site, width)
    try:
        response = page.goto(url, wait_until="load")
        assert response is not None
        assert response.status == 200
        _load_everything(page)

        assert page.get_attribute("body", "class") == f"device-{device}"
        assert page.get_by_role("heading", name="Grow faster", level=1).is_visible()
        hero = page.locator("[data-element-id=image-1] img")
        assert hero.get_attribute("src") == showcase.image_url
        assert hero.evaluate("img => img.complete && img.naturalWidth") == 240
        optin = page.locator("form.el-form")
        assert optin.locator("input").count() == 2
        assert optin.locator("input[type=email][required]").is_visible()
        assert optin.get_by_role("button", name="Send me the guide").is_visible()
        order = page.locator("form[data-order-form]")
        assert order.count() == 1
        assert order.get_attribute("data-product-id") == showcase.product_id
        assert order.locator("input").count() == 3  # email, name, phone
        assert order.locator("[data-card-element]").count() == 1
        assert page.evaluate("window.__stubStripeLoaded") is True
        video = page.locator("[data-element-id=video-1] iframe")
        assert video.get_attribute("src") == f"{site.stub.url}/youtube/dQw4w9WgXcQ"
        assert re.fullmatch(
            r"\d+d \d{2}:\d{2}:\d{2}", page.locator("[data-countdown-remaining]").inner_text()
        )
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        assert overflow <= 0, f"{device}: the page is {overflow}px wider than the viewport"

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"preview-{device}.png"
        page.screenshot(path=str(shot), full_page=True)
        png = shot.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert int.from_bytes(png[16:20], "big") == width
        assert int.from_bytes(png[20:24], "big") >= 900

        assert watch.outside == [], "requests left the machine"
        assert watch.problems == []
        assert watch.dialogs == []
        assert {"/stripe.js", "/youtube/dQw4w9WgXcQ"} <= set(site.stub.seen)
    finally:
        context.close()


# Each tries to set window.__xss or open a dialog if any of it reaches the DOM as markup.
XSS_PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '<svg onload="window.__xss=1"></svg>',
    '<a href="javascript:window.__xss=1" id="js-link">click</a>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '"><script>window.__xss=1</script>',
    "'><img src=x onerror=alert(1)>",
    '<details open ontoggle="window.__xss=1">x</details>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=1">',
    '<input autofocus onfocus="window.__xss=1">',
    "<body onload=alert(document.domain)>",
    "</textarea><script>alert(1)</script>",
    '<object data="javascript:window.__xss=1"></object>',
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
]


def _xss_tree(image_url: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for i, payload in enumerate(XSS_PAYLOADS):
        short = payload[:100]
        content += [
            {"id": f"h-{i}", "type": "headline", "props": {"text": payload}},
            {"id": f"t-{i}", "type": "text", "props": {"html": f"<p>{payload}</p>{payload}"}},
            {"id": f"b-{i}", "type": "button", "props": {"label": short, "href": "#x"}},
            {"id": f"q-{i}", "type": "testimonial", "props": {"quote": payload, "author": short}},
            {
                "id": f"i-{i}",
                "type": "image",
                "props": {"src": image_url, "alt": payload},
            },
            {
                "id": f"f-{i}",
                "type": "form",
                "props": {
                    "fields": [{"name": "email", "label": short, "placeholder": short}],
                    "submit_label": payload[:60],
                },
            },
            {
                "id": f"p-{i}",
                "type": "pricing",
                "props": {
                    "plan": short,
                    "price_cents": 100,
                    "currency": "USD",
                    "features": [payload],
                },
            },
        ]
    content.append(
        {
            "id": "cd",
            "type": "countdown",
            "props": {"ends_at": "2000-01-01T00:00:00Z", "expired_text": XSS_PAYLOADS[0]},
        }
    )
    column = {"id": "col", "type": "column", "props": {}, "children": content}
    row = {"id": "row", "type": "row", "props": {}, "children": [column]}
    return [{"id": "sec", "type": "section", "props": {}, "children": [row]}]


def test_xss_payloads_in_props_do_not_run_in_chromium(
    browser: Any, site: Site, showcase: ShowcasePage
) -> None:
    page_id = _create_page(
        site,
        "XSS sample",
        _xss_tree(showcase.image_url),
        seo={
            "title": "</title><script>window.__xss=1</script>",
            "description": '"><svg onload=alert(1)>',
        },
    )
    url = f"{site.app}/api/v1/pages/{page_id}/preview?device=desktop"
    context, page, watch = _open(browser, site, DEVICES["desktop"])
    try:
        assert page.goto(url, wait_until="load").status == 200
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # autofocus / ontoggle handlers fire after load
        # If a javascript: link had survived, following it would run it.
        for link in page.locator("a[href^='javascript' i]").all():
            link.click(timeout=1000)

        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.evaluate("typeof parent.__xss") == "undefined"
        assert watch.dialogs == []
        markup = page.evaluate(
            """() => {
              const all = [...document.querySelectorAll('*')];
              return {
                handlers: all.flatMap(e => [...e.attributes]
                  .filter(a => a.name.startsWith('on')).map(a => `${e.tagName} ${a.name}`)),
                scripts: [...document.scripts]
                  .filter(s => s.dataset.fpScript !== 'countdown').map(s => s.outerHTML),
                urls: all.flatMap(e => ['href', 'src', 'action', 'data', 'formaction']
                  .map(n => e.getAttribute(n)).filter(v => v && /^\\s*javascript:/i.test(v))),
                frames: document.querySelectorAll('iframe, object, embed, svg, math').length,
              };
            }"""
        )
        assert markup == {"handlers": [], "scripts": [], "urls": [], "frames": 0}
        # The payloads are shown as text, exactly as typed.
        assert page.get_by_text(XSS_PAYLOADS[1], exact=True).first.is_visible()
        assert "</title><script>" in page.title()
        # An <img src=x> or <iframe> that slipped through would show up as a failed request.
        assert watch.outside == []
        assert watch.problems == []
    finally:
        context.close()
