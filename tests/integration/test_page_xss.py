"""Script injection through props: every payload in every string and URL prop of every element.

A payload is safe when the prop refuses it (422) or when the rendered page, parsed as a
browser would, holds no script, handler, dangerous URL, frame or template evaluation of it.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from domain.pages.elements import ELEMENTS, InvalidElements, normalize
from domain.pages.render import page_script, render_page
from domain.pages.schemas import Seo
from domain.shared.settings import get_settings

PAYLOADS: list[str] = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//xss.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)",
    "&#x6A;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<div style="width: expression(alert(1))">x</div>',
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "{{7*'7'}}{{ config.items() }}",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">y</a>',
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:text/html,<script>alert(1)</script>">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<link rel=stylesheet href=javascript:alert(1)>",
    "<!--<script>alert(1)</script>-->",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e",
    '" onmouseover="alert(1)" x="',
    "' onmouseover='alert(1)' x='",
    "<video><source onerror=alert(1)></video>",
    "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//</stYle/"
    "</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e",
]
TEMPLATE_PAYLOADS = {"{{7*7}}", "${7*7}", "{{7*'7'}}{{ config.items() }}"}
NEUTRAL = "zzneutralzz"

# A valid props base for each element type; the prop under test is overwritten.
BASE_PROPS: dict[str, dict[str, Any]] = {
    "section": {},
    "row": {},
    "column": {},
    "headline": {"text": "t"},
    "text": {"html": "<p>t</p>"},
    "image": {"src": "/i.png", "link": "/l"},
    "video": {"provider": "file", "source": "/v.mp4"},
    "button": {"label": "b", "href": "/b"},
    "form": {"fields": [{"name": "email", "label": "E", "type": "email"}]},
    "order_form": {},
    "countdown": {"ends_at": "2099-01-01T00:00:00Z"},
    "testimonial": {"quote": "q", "author": "a", "avatar": "/a.png"},
    "pricing": {"plan": "p", "price_cents": 1000, "currency": "USD", "features": ["f"]},
    "divider": {},
}
# Every string-valued prop, as a path into props; ("fields", 0, "label") is inside a list.
TARGETS: list[tuple[str, tuple[str | int, ...]]] = [
    ("section", ("background_color",)),
    ("section", ("anchor",)),
    ("headline", ("text",)),
    ("text", ("html",)),
    ("image", ("src",)),
    ("image", ("alt",)),
    ("image", ("link",)),
    ("video", ("source",)),
    ("video:youtube", ("source",)),
    ("video", ("caption",)),
    ("button", ("label",)),
    ("button", ("href",)),
    ("form", ("fields", 0, "name")),
    ("form", ("fields", 0, "label")),
    ("form", ("fields", 0, "placeholder")),
    ("form", ("submit_label",)),
    ("order_form", ("product_id",)),
    ("order_form", ("heading",)),
    ("order_form", ("submit_label",)),
    ("countdown", ("ends_at",)),
    ("countdown", ("expired_text",)),
    ("countdown", ("label",)),
    ("testimonial", ("quote",)),
    ("testimonial", ("author",)),
    ("testimonial", ("role",)),
    ("testimonial", ("avatar",)),
    ("pricing", ("plan",)),
    ("pricing", ("currency",)),
    ("pricing", ("features", 0)),
    ("pricing", ("cta_label",)),
    ("pricing", ("cta_href",)),
    ("page", ("name",)),
    ("page", ("title",)),
    ("page", ("description",)),
    ("page", ("og_image",)),
]
# Free-text props must accept the payloads (so they really reach the renderer).
FREE_TEXT = {
    ("headline", ("text",)),
    ("text", ("html",)),
    ("image", ("alt",)),
    ("video", ("caption",)),
    ("button", ("label",)),
    ("form", ("fields", 0, "label")),
    ("form", ("fields", 0, "placeholder")),
    ("form", ("submit_label",)),
    ("order_form", ("heading",)),
    ("order_form", ("submit_label",)),
    ("countdown", ("expired_text",)),
    ("countdown", ("label",)),
    ("testimonial", ("quote",)),
    ("testimonial", ("author",)),
    ("testimonial", ("role",)),
    ("pricing", ("plan",)),
    ("pricing", ("features", 0)),
    ("pricing", ("cta_label",)),
    ("page", ("name",)),
    ("page", ("title",)),
    ("page", ("description",)),
}

# Every tag our renderer and the rich-text allow-list can produce; anything else was injected.
OUR_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "section",
    "div",
    "figure",
    "figcaption",
    "img",
    "a",
    "iframe",
    "video",
    "form",
    "label",
    "input",
    "textarea",
    "button",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "span",
    "strong",
    "ul",
    "li",
    "hr",
    "script",
    "p",
    "br",
    "em",
    "b",
    "i",
    "u",
    "ol",
}
# Our one link: an empty icon, so browsers do not request /favicon.ico.
FAVICON = {"rel": "icon", "href": "data:,"}
URL_ATTRS = {"href", "src", "action", "formaction", "poster", "data", "xlink:href"}
# Countdowns render the time left: a fixed clock keeps two renders comparable.
NOW = datetime(2030, 1, 1, tzinfo=UTC)
_STRIP = re.compile(r"[\x00-\x20\x7f]")


class _Inspector(HTMLParser):
    """Collects everything that could run script in a parsed page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script_attrs: dict[str, str | None] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and attributes == FAVICON:
            return
        if tag not in OUR_TAGS:
            self.problems.append(f"unexpected <{tag}>")
        settings = get_settings()
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name == "srcdoc":
                self.problems.append(f"srcdoc on <{tag}>")
            if name == "http-equiv":
                self.problems.append("meta http-equiv")
            if name in URL_ATTRS and value is not None:
                squeezed = _STRIP.sub("", value).lower()
                if squeezed.startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"{name}={value!r} on <{tag}>")
            if name == "style" and tag != "section":
                self.problems.append(f"style attribute on <{tag}>")
        if tag == "meta" and attributes.get("property") == "og:image":
            squeezed = _STRIP.sub("", attributes.get("content") or "").lower()
            if squeezed.startswith(("javascript:", "data:", "vbscript:")):
                self.problems.append(f"og:image {squeezed!r}")
        if tag == "iframe":
            src = attributes.get("src") or ""
            if not src.startswith((settings.youtube_embed_base, settings.vimeo_embed_base)):
                self.problems.append(f"iframe src={src!r}")
        if tag == "script":
            self._script_attrs = attributes
            self._script_text = []

    def handle_data(self, data: str) -> None:
        if self._script_attrs is not None:
            self._script_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script_attrs is not None:
            self.scripts.append((self._script_attrs, "".join(self._script_text)))
            self._script_attrs = None


def _problems(html: str) -> list[str]:
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    problems = list(inspector.problems)
    stripe = get_settings().stripe_js_url
    for attrs, text in inspector.scripts:
        ours = attrs == {"data-fp-script": "countdown"} and text == page_script()
        stripe_js = attrs == {"src": stripe} and text == ""
        if not (ours or stripe_js):
            problems.append(f"foreign script {attrs} {text[:60]!r}")
    if html.count("<script") != len(inspector.scripts):
        problems.append("a <script tag the parser did not see as one")
    return problems


def _set(props: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = props
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _tree(type_: str, props: dict[str, Any]) -> list[dict[str, Any]]:
    """A valid page holding one element of type_ (plus a countdown and an order form, so the
    page carries both of our own scripts and a foreign one cannot hide among them)."""
    extras = [
        {"id": "cd", "type": "countdown", "props": {"ends_at": "2099-01-01T00:00:00Z"}},
        {"id": "of", "type": "order_form"},
    ]
    if type_ == "section":
        return [{"id": "s", "type": type_, "props": props}]
    if type_ == "row":
        return [
            {
                "id": "s",
                "type": "section",
                "children": [
                    {
                        "id": "r",
                        "type": "row",
                        "props": props,
                        "children": [{"id": "c", "type": "column", "children": extras}],
                    }
                ],
            }
        ]
    if type_ == "column":
        return [
            {
                "id": "s",
                "type": "section",
                "children": [
                    {
                        "id": "r",
                        "type": "row",
                        "children": [
                            {"id": "c", "type": "column", "props": props, "children": extras}
                        ],
                    }
                ],
            }
        ]
    node = {"id": "target", "type": type_, "props": props}
    return [
        {
            "id": "s",
            "type": "section",
            "children": [
                {
                    "id": "r",
                    "type": "row",
                    "children": [{"id": "c", "type": "column", "children": [node, *extras]}],
                }
            ],
        }
    ]


def _render_with(target: str, path: tuple[str | int, ...], value: str) -> str | None:
    """The page with value in that prop, or None when validation refuses it."""
    if target == "page":
        seo: dict[str, Any] = {}
        name = "Page"
        if path == ("name",):
            name = value
        else:
            seo[str(path[0])] = value
        try:
            Seo.model_validate(seo)
        except ValidationError:
            return None
        if not 1 <= len(name) <= 200:
            return None
        return render_page(name=name, elements=_tree("divider", {}), seo=seo, now=NOW)
    type_, _, variant = target.partition(":")
    props = copy.deepcopy(BASE_PROPS[type_])
    if variant:
        props["provider"] = variant
    _set(props, path, value)
    try:
        elements = normalize(_tree(type_, props))
    except InvalidElements:
        return None
    return render_page(name="Page", elements=elements, seo={}, now=NOW)


def _string_fields(
    model: type[BaseModel], prefix: tuple[str | int, ...] = ()
) -> set[tuple[Any, ...]]:
    """Paths of every str-typed field of a props model (recursing into nested models)."""
    found: set[tuple[Any, ...]] = set()
    for name, info in model.model_fields.items():
        for arg in _leaf_types(info.annotation):
            if arg is str:
                found.add((*prefix, name))
            elif isinstance(arg, type) and issubclass(arg, BaseModel):
                found |= _string_fields(arg, (*prefix, name, 0))
            elif arg == "list-of-str":
                found.add((*prefix, name, 0))
    return found


def _leaf_types(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Literal:
        return []
    if origin is typing.Annotated:
        return _leaf_types(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in get_args(annotation) for t in _leaf_types(a)]
    if origin is list:
        inner = _leaf_types(get_args(annotation)[0])
        return ["list-of-str" if t is str else t for t in inner]
    return [annotation]


def test_targets_cover_every_string_prop() -> None:
    covered = {(t.partition(":")[0], p) for t, p in TARGETS}
    for type_, element in ELEMENTS.items():
        for path in _string_fields(element.props):
            assert (type_, path) in covered, f"{type_}.{path} has no XSS coverage"
    assert len(PAYLOADS) >= 30


@pytest.mark.parametrize(("target", "path"), TARGETS, ids=lambda v: str(v))
def test_no_payload_survives_rendering(target: str, path: tuple[str | int, ...]) -> None:
    failures: list[str] = []
    neutral = _render_with(target, path, NEUTRAL)
    for payload in PAYLOADS:
        html = _render_with(target, path, payload)
        if html is None:
            if (target, path) in FREE_TEXT and len(payload) <= 60:
                failures.append(f"{payload!r}: free text refused")
            continue
        for problem in _problems(html):
            failures.append(f"{payload!r}: {problem}")
        if payload in TEMPLATE_PAYLOADS and neutral is not None:
            if html.count("49") != neutral.count("49") or "7777777" in html:
                failures.append(f"{payload!r}: evaluated as a template")
            if (target, path) in FREE_TEXT and "7*" not in html:
                failures.append(f"{payload!r}: the literal text is missing")
    assert not failures, "\n".join(failures)


def test_the_inspector_catches_what_it_should() -> None:
    stripe = get_settings().stripe_js_url
    assert _problems(f'<p>x</p><script src="{stripe}"></script>') == []
    assert _problems("<script>alert(1)</script>")
    assert _problems('<a href=" jav&#x09;ascript:alert(1)">x</a>')
    assert _problems('<img src="x" onerror="alert(1)">')
    assert _problems('<iframe src="https://evil.example/"></iframe>')
    assert _problems('<iframe srcdoc="x" src="https://www.youtube-nocookie.com/embed/x"></iframe>')
    assert _problems("<svg></svg>")
    assert _problems('<link rel="icon" href="data:text/html,x">')
    assert _problems('<a rel="icon" href="data:,">x</a>')  # only our exact <link> is exempt
    assert _problems('<link rel="icon" href="data:,">') == []
    assert _problems('<div style="x:expression(1)"></div>')


def test_payloads_through_the_api_preview(client: Any, tenant: Any) -> None:
    """Each payload in every free-text prop of one page, created and previewed over HTTP."""
    failures: list[str] = []
    for i, payload in enumerate(p for p in PAYLOADS if len(p) <= 60):
        tree = normalize(_tree("divider", {}))
        column = tree[0]["children"][0]["children"][0]["children"]
        column.extend(
            [
                {"type": "headline", "props": {"text": payload}},
                {"type": "text", "props": {"html": payload}},
                {"type": "button", "props": {"label": payload, "href": "/x"}},
                {"type": "image", "props": {"src": "/i.png", "alt": payload}},
                {
                    "type": "testimonial",
                    "props": {"quote": payload, "author": payload, "role": payload},
                },
                {
                    "type": "pricing",
                    "props": {
                        "plan": payload,
                        "price_cents": 1000,
                        "currency": "USD",
                        "features": [payload],
                    },
                },
                {
                    "type": "form",
                    "props": {
                        "fields": [{"name": "f", "label": payload, "placeholder": payload}],
                        "submit_label": payload,
                    },
                },
                {"type": "order_form", "props": {"heading": payload, "submit_label": payload}},
                {
                    "type": "countdown",
                    "props": {"ends_at": "2000-01-01T00:00:00Z", "expired_text": payload},
                },
                {
                    "type": "video",
                    "props": {"provider": "youtube", "source": "abc", "caption": payload},
                },
            ]
        )
        body = {
            "name": payload,
            "slug": f"xss-{i}",
            "elements": tree,
            "seo": {"title": payload, "description": payload},
        }
        r = client.post("/api/v1/pages", json=body, headers=tenant.headers)
        assert r.status_code == 201, (payload, r.text)
        preview = client.get(f"/api/v1/pages/{r.json()['id']}/preview", headers=tenant.headers)
        assert preview.status_code == 200
        failures.extend(f"{payload!r}: {problem}" for problem in _problems(preview.text))
        # URL props over the API: refused with a 422, or rendered harmlessly
        url_body = {
            "name": "u",
            "elements": _tree("button", {"label": "b", "href": payload}),
            "seo": {"og_image": payload},
        }
        r = client.post("/api/v1/pages", json=url_body, headers=tenant.headers)
        if r.status_code == 201:
            page_id = r.json()["id"]
            html = client.get(f"/api/v1/pages/{page_id}/preview", headers=tenant.headers).text
            failures.extend(f"{payload!r} as URL: {problem}" for problem in _problems(html))
        else:
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "validation_error"
    assert not failures, "\n".join(failures)
