"""The renderer: an element tree to one self-contained, escaped and sanitized HTML document.

Preview and publish use the same function; only the body's device class differs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from domain.pages.elements import (
    CountdownProps,
    Node,
    PricingProps,
    TextProps,
    VideoProps,
    parse_tree,
    walk_nodes,
)
from domain.pages.schemas import Seo
from domain.shared.settings import Settings, get_settings

TEMPLATES = Path(__file__).parent / "templates"
# desktop / tablet / mobile fix the container at 1200 / 768 / 375 px for previews;
# "responsive" (published pages) follows the visitor's screen.
RenderDevice = Literal["desktop", "tablet", "mobile", "responsive"]
# What Stripe.js itself frames and calls (its documented CSP needs), besides its own origin.
STRIPE_FRAMES = "https://js.stripe.com https://hooks.stripe.com"
STRIPE_API = "https://api.stripe.com"
DEVICE_WIDTHS = {"desktop": 1200, "tablet": 768, "mobile": 375}

RICH_TEXT_TAGS = frozenset(
    {"p", "br", "strong", "em", "b", "i", "u", "a", "ul", "ol", "li", "h2", "h3", "h4"}
    | {"blockquote", "span"}
)
RICH_TEXT_ATTRIBUTES = {"a": {"href"}}
RICH_TEXT_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Currencies whose minor unit is the whole unit (Stripe's list of zero-decimal currencies).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Compiled once per process: building the environment and templates costs milliseconds.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@lru_cache(maxsize=1)
def _macros() -> Any:
    return _env().get_template("elements.html").module


@lru_cache(maxsize=1)
def _css() -> Markup:
    # Rendered from a template only for the column widths; nothing in it comes from a page.
    css = _env().get_template("page.css").render()
    return Markup("\n".join(line for line in css.splitlines() if line.strip()))  # noqa: S704


@lru_cache(maxsize=1)
def page_script() -> str:
    """Our one page-level script (countdown updates); it reads values from data attributes."""
    return (TEMPLATES / "countdown.js").read_text(encoding="utf-8")


def sanitize_rich_text(html: str) -> Markup:
    """Rich text reduced to the allow-listed tags, attributes and URL schemes."""
    cleaned = nh3.clean(
        html,
        tags=set(RICH_TEXT_TAGS),
        attributes={tag: set(attrs) for tag, attrs in RICH_TEXT_ATTRIBUTES.items()},
        url_schemes=set(RICH_TEXT_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - nh3 output is sanitized HTML


def format_price(cents: int, currency: str) -> str:
    """An amount in minor units as people read it, e.g. "49.00 USD"."""
    if currency in ZERO_DECIMAL:
        return f"{cents:,} {currency}"
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def remaining(ends_at: datetime, now: datetime) -> str | None:
    """The time left as "1d 02:03:04" (days only when there are some); None once it is over."""
    left = int((ends_at - now).total_seconds())
    if left <= 0:
        return None
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def _countdown(props: CountdownProps, now: datetime) -> dict[str, Any]:
    """The time left as first shown (an evergreen one: its whole duration)."""
    # The page script then counts an evergreen one down from the visitor's first view.
    if props.duration_minutes is not None:
        shown = remaining(now + timedelta(minutes=props.duration_minutes), now)
        return {"ends_at": "", "remaining": shown, "expired": False}
    assert props.ends_at is not None  # the props model requires one of the two
    left = remaining(props.ends_at, now)
    return {
        "ends_at": props.ends_at.isoformat(),
        "remaining": props.expired_text if left is None else left,
        "expired": left is None,
    }


@dataclass(frozen=True)
class _Context:
    settings: Settings
    now: datetime


def _computed(node: Node, ctx: _Context) -> dict[str, Any]:
    """Values a template needs that are worked out in Python (never raw HTML from a prop)."""
    props = node.props
    if isinstance(props, TextProps):
        return {"html": sanitize_rich_text(props.html)}
    if isinstance(props, VideoProps) and props.provider != "file":
        base = (
            ctx.settings.youtube_embed_base
            if props.provider == "youtube"
            else ctx.settings.vimeo_embed_base
        )
        query = "?autoplay=1&mute=1" if props.autoplay else ""
        return {"embed_url": f"{base}{props.source}{query}"}
    if isinstance(props, CountdownProps):
        return _countdown(props, ctx.now)
    if isinstance(props, PricingProps):
        return {"price": format_price(props.price_cents, props.currency)}
    return {}


def _render_node(macros: Any, node: Node, ctx: _Context) -> Markup:
    body = Markup("").join(_render_node(macros, child, ctx) for child in node.children)
    result: Markup = getattr(macros, node.type)(node, body, _computed(node, ctx))
    return result


def render_nodes(
    nodes: list[Node],
    *,
    name: str,
    seo: Seo,
    device: RenderDevice = "responsive",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> str:
    """A full HTML5 document of already validated nodes."""
    ctx = _Context(settings=settings or get_settings(), now=now or datetime.now(UTC))
    macros = _macros()
    types = {n.type for n in walk_nodes(nodes)}
    body = Markup("\n").join(_render_node(macros, node, ctx) for node in nodes)
    return (
        _env()
        .get_template("page.html")
        .render(
            title=seo.title or name,
            seo=seo,
            css=_css(),
            device=device,
            body=body,
            has_countdown="countdown" in types,
            page_script=Markup(page_script()),  # noqa: S704 - our own static file
            has_order_form="order_form" in types,
            stripe_js_url=ctx.settings.stripe_js_url,
        )
    )


def render_page(
    *,
    name: str,
    elements: Any,
    seo: dict[str, Any],
    device: RenderDevice = "responsive",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> str:
    """Validate a stored tree and render it (raises InvalidElements when it breaks a rule)."""
    return render_nodes(
        parse_tree(elements),
        name=name,
        seo=Seo.model_validate(seo, strict=False),
        device=device,
        settings=settings,
        now=now,
    )


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL ('' for a relative one)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(
    settings: Settings | None = None,
    *,
    stripe: bool = True,
    scripts: tuple[str, ...] = (),
) -> str:
    """The CSP rendered pages are served with: only our script, Stripe.js and the video hosts.

    A second line of defence behind escaping and sanitizing: even if markup slipped through,
    the browser would run no script of its making. Visitor pages pass `stripe=False` unless
    they hold an order form, and name the first-party scripts they load (`scripts`, absolute
    URLs or path-prefixed sources).
    """
    settings = settings or get_settings()
    digest = base64.b64encode(hashlib.sha256(page_script().encode()).digest()).decode()
    js = _origin(settings.stripe_js_url) if stripe else ""
    stripe_frames = f"{js} {STRIPE_FRAMES}" if stripe else ""
    stripe_api = f"{js} {STRIPE_API}" if stripe else ""
    videos = f"{_origin(settings.youtube_embed_base)} {_origin(settings.vimeo_embed_base)}"
    directives = {
        "default-src": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "form-action": "'self'",
        "script-src": f"'sha256-{digest}' {' '.join(scripts)} {js}",
        # Section colours are style attributes (validated #rrggbb); the stylesheet is inline.
        "style-src": "'unsafe-inline'",
        "img-src": "'self' https: http: data:",
        "media-src": "'self' https: http:",
        "font-src": "'self'",
        "frame-src": f"{videos} {stripe_frames}",
        "connect-src": f"'self' {stripe_api}",
        # Nobody may frame a page (clickjacking a checkout): visitors open funnels at their
        # own URL, and the builder loads previews by fetch with its token, not as a frame.
        "frame-ancestors": "'none'",
    }
    # dict.fromkeys: each source once, in order (the settings may name the same origin twice).
    return "; ".join(
        f"{name} {' '.join(dict.fromkeys(value.split()))}" for name, value in directives.items()
    )
