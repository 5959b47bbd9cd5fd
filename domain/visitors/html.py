"""A published page made live for visitors: forms wired to their routes, offers priced.

The stored HTML comes from our own renderer (domain/pages/render.py), so its markers are
known: `data-form="optin"` forms, the order form's `data-order-bumps` and
`data-card-element`, buttons linking to `#accept` / `#decline`, `</main>` and `</body>`.
Everything added here is the same for every visitor of a step (ids and the CSRF token are
read from cookies by the page's script), so one ETag serves them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from domain.pages.render import format_price
from domain.visitors.offers import Offer

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SCRIPTS = ("visitor.js", "checkout.js")
OPTIN_FORM = re.compile(r'(<form\b[^>]*\bdata-form="optin"[^>]*)>(.*?)</form>', re.S)
BUMPS = re.compile(r"<div class=\"bumps\" data-order-bumps></div>")
CARD = re.compile(r'<div class="card" data-card-element></div>')
ANSWER = re.compile(r'<a\b[^>]*\bhref="#(accept|decline)"[^>]*>(.*?)</a>', re.S)
SUBMIT = re.compile(r'<button type="submit"')
FIRST_SECTION_END = re.compile(r"</section>")
TEXT_INPUT = '(<input\\b[^>]*\\bname="{name}"[^>]*?)(>)'
DEFAULT_LABELS = {"accept": "Yes, add this to my order", "decline": "No thanks"}


@lru_cache(maxsize=1)
def _macros() -> Any:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("fragments.html").module


@lru_cache(maxsize=len(SCRIPTS))
def script(name: str) -> bytes | None:
    """One of the pages' first-party scripts by file name (None for any other name)."""
    return (STATIC / name).read_bytes() if name in SCRIPTS else None


@dataclass(frozen=True)
class PageParts:
    """What a page needs beyond its stored HTML (the same for all visitors of the step)."""

    base: str  # /f/{account}/{funnel}/{step}: the step's own URL, forms post under it
    context: dict[str, Any]  # read by the page's script (ids are added from cookies there)
    scripts: list[str]
    offer: Offer | None = None
    consent_required: bool = False


@dataclass(frozen=True)
class FormState:
    """An opt-in post being shown again: what was typed and what was wrong."""

    values: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _json_block(data: dict[str, Any]) -> Markup:
    # "<" escaped so no value can close the script element.
    text = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    return Markup(f'<script type="application/json" id="fp-visit">{text}</script>')  # noqa: S704


def _fill(body: str, values: dict[str, str]) -> str:
    """The form's inputs and text areas with what the visitor typed (escaped)."""
    for name, value in values.items():
        match = re.compile(TEXT_INPUT.format(name=re.escape(name))).search(body)
        if match is not None:
            tag = match.group(1)
            extra = (
                (" checked" if value else "")
                if 'type="checkbox"' in tag
                else (f' value="{escape(value)}"')
            )
            body = body[: match.start()] + tag + extra + ">" + body[match.end() :]
            continue
        area = re.compile(f'(<textarea\\b[^>]*\\bname="{re.escape(name)}"[^>]*>)(</textarea>)')
        found = area.search(body)
        if found is not None:
            body = body[: found.end(1)] + str(escape(value)) + body[found.start(2) :]
    return body


def _optin_forms(html: str, parts: PageParts, state: FormState | None) -> str:
    macros = _macros()
    state = state or FormState()

    def wire(match: re.Match[str]) -> str:
        body = _fill(match.group(2), state.values)
        if 'name="marketing_consent"' not in body:
            box = str(macros.consent_box(bool(state.values.get("marketing_consent"))))
            at = [m.start() for m in SUBMIT.finditer(body)]
            body = body[: at[-1]] + box + body[at[-1] :] if at else body + box
        head = f'{match.group(1)} action="{escape(parts.base)}/optin">'
        return (
            head
            + str(macros.form_errors(state.errors))
            + str(macros.form_guard())
            + body
            + "</form>"
        )

    return OPTIN_FORM.sub(wire, html)


def _order_form(html: str, offer: Offer) -> str:
    macros = _macros()
    prices = {b.product_id: format_price(b.price_cents, b.currency) for b in offer.bumps}
    total = {
        "main": format_price(offer.main.price_cents, offer.main.currency),
        "base": format_price(offer.main.price_cents, offer.main.currency),
    }
    has_bumps = BUMPS.search(html) is not None
    html = BUMPS.sub("", html)
    summary = str(macros.order_summary(offer, total))
    if has_bumps and offer.bumps:
        summary += str(macros.bump_boxes(offer, prices))
    summary += str(macros.order_total(offer, total))
    return CARD.sub(lambda m: summary + m.group(0), html, count=1)


def _one_click(html: str, parts: PageParts, offer: Offer) -> str:
    macros = _macros()
    price = format_price(offer.main.price_cents, offer.main.currency)
    action = f"{parts.base}/offer"

    def form(decision: str, label: Markup | str) -> str:
        return str(macros.one_click(offer, price, action, label, decision))

    if ANSWER.search(html) is None:
        forms = form("accept", DEFAULT_LABELS["accept"]) + form(
            "decline", DEFAULT_LABELS["decline"]
        )
        return html.replace("</main>", forms + "</main>", 1)
    # The label is the renderer's already escaped text.
    return ANSWER.sub(lambda m: form(m.group(1), Markup(m.group(2))), html)  # noqa: S704


def visitor_page(html: str, parts: PageParts, state: FormState | None = None) -> str:
    """The stored HTML with its forms wired, its offer priced and the page's script added."""
    html = _optin_forms(html, parts, state)
    offer = parts.offer
    if offer is not None and offer.step_type == "order_form":
        html = _order_form(html, offer)
    elif offer is not None:
        html = _one_click(html, parts, offer)
    tail = ""
    if parts.consent_required:
        tail += str(_macros().consent_banner())
    tail += str(_json_block(parts.context))
    tail += "".join(f'<script src="{escape(src)}" defer></script>' for src in parts.scripts)
    return html.replace("</body>", tail + "\n</body>", 1)


def with_receipt(html: str, order: dict[str, Any]) -> str:
    """A thank-you page with what the visitor bought (after its first section)."""
    lines = [
        {"name": i["name"], "price": format_price(i["total_cents"], order["currency"])}
        for i in order["items"]
    ]
    view = {
        "number": order["number"],
        "total": format_price(order["total_cents"], order["currency"]),
    }
    block = str(_macros().receipt(view, lines))
    match = FIRST_SECTION_END.search(html)
    if match is None:
        return html.replace("</main>", block + "</main>", 1)
    return html[: match.end()] + block + html[match.end() :]
