"""The element library and the renderer: props, nesting, limits, URLs, error locations, HTML."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from domain.pages.elements import (
    ELEMENTS,
    MAX_NODES,
    InvalidElements,
    check_url,
    library,
    normalize,
    parse_tree,
    walk_nodes,
)
from domain.pages.render import (
    format_price,
    page_script,
    remaining,
    render_page,
    sanitize_rich_text,
)
from tests.support.pages import every_element_tree


def _in_column(*content: dict[str, Any]) -> list[dict[str, Any]]:
    """A one-section, one-row, one-column tree holding content."""
    return [
        {
            "id": "s",
            "type": "section",
            "children": [
                {
                    "id": "r",
                    "type": "row",
                    "children": [{"id": "c", "type": "column", "children": list(content)}],
                }
            ],
        }
    ]


CONTENT_LOC = ["elements", 0, "children", 0, "children", 0, "children", 0]


def _errors(tree: Any) -> list[dict[str, Any]]:
    with pytest.raises(InvalidElements) as info:
        parse_tree(tree)
    assert info.value.status_code == 422
    assert info.value.code == "validation_error"
    assert info.value.details
    return info.value.details


VALID_PROPS: dict[str, dict[str, Any]] = {
    "headline": {"text": "Hi", "level": 2, "align": "center"},
    "text": {"html": "<p>Hello <em>you</em></p>", "align": "right"},
    "image": {"src": "/img/a.png", "alt": "A", "width": 300, "link": "https://example.com"},
    "video": {"provider": "vimeo", "source": "123456", "autoplay": True, "caption": "Intro"},
    "button": {
        "label": "Buy",
        "href": "mailto:sales@example.com",
        "style": "link",
        "new_tab": True,
    },
    "form": {"fields": [{"name": "email", "label": "Email", "type": "email", "required": True}]},
    "order_form": {"product_id": "6f1c9a52-8f2e-4a47-9a55-0b8f7d7b0c11", "collect_phone": True},
    "countdown": {"ends_at": "2030-05-01T12:00:00+02:00"},
    "testimonial": {"quote": "Great", "author": "Bo", "rating": 4},
    "pricing": {"plan": "Basic", "price_cents": 0, "currency": "eur", "features": ["A"]},
    "divider": {},
}


@pytest.mark.parametrize("type_", sorted(VALID_PROPS))
def test_each_content_type_accepts_valid_props(type_: str) -> None:
    tree = normalize(_in_column({"id": "x", "type": type_, "props": VALID_PROPS[type_]}))
    node = tree[0]["children"][0]["children"][0]["children"][0]
    assert node["type"] == type_
    assert node["children"] == []
    # every prop of the model is present after normalization, defaults included
    assert set(node["props"]) == set(ELEMENTS[type_].props.model_fields)


def test_layout_props_and_defaults() -> None:
    tree = normalize(
        [
            {
                "type": "section",
                "props": {"background_color": "#AABBCC", "padding": "none", "anchor": "buy-now"},
                "children": [
                    {
                        "type": "row",
                        "props": {"gap": "small"},
                        "children": [{"type": "column", "props": {"width": 12}}],
                    },
                ],
            }
        ]
    )
    section = tree[0]
    assert section["props"] == {
        "background_color": "#AABBCC",
        "padding": "none",
        "anchor": "buy-now",
    }
    assert section["children"][0]["props"] == {"gap": "small"}
    assert section["children"][0]["children"][0]["props"] == {"width": 12}


def test_defaults_are_filled_and_values_normalized() -> None:
    tree = normalize(
        _in_column(
            {
                "id": "p",
                "type": "pricing",
                "props": {"plan": "X", "price_cents": 100, "currency": "usd"},
            },
            {"id": "d", "type": "divider"},
            {"id": "o", "type": "order_form"},
        )
    )
    pricing, divider, order = tree[0]["children"][0]["children"][0]["children"]
    assert pricing["props"]["currency"] == "USD"
    assert pricing["props"]["cta_label"] == "Get started"
    assert pricing["props"]["cta_href"] == "#"
    assert divider["props"] == {"style": "solid", "spacing": "medium"}
    assert order["props"]["heading"] == "Complete your order"
    assert order["props"]["submit_label"] == "Buy now"
    assert order["props"]["product_id"] is None


def test_missing_ids_are_assigned_and_unique() -> None:
    tree = normalize([{"type": "section"}, {"type": "section"}])
    ids = [n["id"] for n in tree]
    assert all(len(i) == 12 for i in ids)
    assert ids[0] != ids[1]


INVALID_PROPS: list[tuple[str, dict[str, Any], str]] = [
    ("headline", {}, "text"),
    ("headline", {"text": ""}, "text"),
    ("headline", {"text": "x" * 301}, "text"),
    ("headline", {"text": "x", "level": 7}, "level"),
    ("headline", {"text": "x", "level": "1"}, "level"),
    ("headline", {"text": "x", "align": "justify"}, "align"),
    ("headline", {"text": 5}, "text"),
    ("text", {"html": "x" * 20_001}, "html"),
    ("text", {"html": ["<p>"]}, "html"),
    ("image", {}, "src"),
    ("image", {"src": "javascript:alert(1)"}, "src"),
    ("image", {"src": "/a.png", "alt": "x" * 301}, "alt"),
    ("image", {"src": "/a.png", "width": 0}, "width"),
    ("image", {"src": "/a.png", "width": 4001}, "width"),
    ("image", {"src": "/a.png", "link": "data:text/html,x"}, "link"),
    ("video", {"provider": "youtube"}, "source"),
    ("video", {"provider": "dailymotion", "source": "abc"}, "provider"),
    ("video", {"provider": "youtube", "source": "abc?x=1"}, "source"),
    ("video", {"provider": "youtube", "source": "x" * 65}, "source"),
    ("video", {"provider": "file", "source": "javascript:alert(1)"}, "source"),
    ("video", {"provider": "vimeo", "source": "1", "autoplay": "yes"}, "autoplay"),
    ("video", {"provider": "vimeo", "source": "1", "caption": "x" * 301}, "caption"),
    ("button", {"label": "x"}, "href"),
    ("button", {"href": "/x"}, "label"),
    ("button", {"label": "x" * 101, "href": "/x"}, "label"),
    ("button", {"label": "x", "href": "/x", "style": "ghost"}, "style"),
    ("button", {"label": "x", "href": "vbscript:msgbox"}, "href"),
    ("form", {"fields": []}, "fields"),
    ("form", {"fields": [{"name": "Email", "label": "E"}]}, "name"),
    ("form", {"fields": [{"name": "e", "label": "E", "type": "password"}]}, "type"),
    ("form", {"fields": [{"name": "e", "label": ""}]}, "label"),
    ("form", {"fields": [{"name": "e", "label": "E"}, {"name": "e", "label": "F"}]}, "fields"),
    ("form", {"fields": [{"name": "e", "label": "E", "onclick": "x"}]}, "onclick"),
    ("form", {"fields": [{"name": f"f{i}", "label": "F"} for i in range(21)]}, "fields"),
    ("form", {"fields": [{"name": "e", "label": "E"}], "submit_label": ""}, "submit_label"),
    ("order_form", {"product_id": "not-a-uuid"}, "product_id"),
    ("order_form", {"heading": "x" * 201}, "heading"),
    ("order_form", {"show_bumps": 1}, "show_bumps"),
    ("countdown", {}, "props"),
    ("countdown", {"ends_at": "2030-05-01T12:00:00Z", "duration_minutes": 60}, "props"),
    ("countdown", {"duration_minutes": 0}, "duration_minutes"),
    ("countdown", {"duration_minutes": 525_601}, "duration_minutes"),
    ("countdown", {"duration_minutes": 60, "align": "middle"}, "align"),
    ("countdown", {"duration_minutes": 60, "label": "x" * 201}, "label"),
    ("button", {"label": "x", "href": "/x", "align": "justify"}, "align"),
    ("countdown", {"ends_at": "2030-05-01T12:00:00"}, "ends_at"),
    ("countdown", {"ends_at": "tomorrow"}, "ends_at"),
    ("countdown", {"ends_at": "2030-05-01T12:00:00Z", "expired_text": "x" * 201}, "expired_text"),
    ("testimonial", {"quote": "q"}, "author"),
    ("testimonial", {"quote": "x" * 2001, "author": "a"}, "quote"),
    ("testimonial", {"quote": "q", "author": "a", "rating": 6}, "rating"),
    ("testimonial", {"quote": "q", "author": "a", "avatar": "javascript:x"}, "avatar"),
    ("pricing", {"plan": "p", "price_cents": -1, "currency": "USD"}, "price_cents"),
    ("pricing", {"plan": "p", "price_cents": 1, "currency": "US"}, "currency"),
    ("pricing", {"plan": "p", "price_cents": 1.5, "currency": "USD"}, "price_cents"),
    ("pricing", {"plan": "p", "price_cents": 1, "currency": "USD", "features": ["x" * 201]}, "0"),
    (
        "pricing",
        {"plan": "p", "price_cents": 1, "currency": "USD", "features": ["f"] * 31},
        "features",
    ),
    (
        "pricing",
        {"plan": "p", "price_cents": 1, "currency": "USD", "cta_href": "javascript:1"},
        "cta_href",
    ),
    ("divider", {"style": "double"}, "style"),
    ("divider", {"color": "red"}, "color"),
]


@pytest.mark.parametrize(("type_", "props", "field"), INVALID_PROPS)
def test_invalid_props_are_refused_at_the_node(
    type_: str, props: dict[str, Any], field: str
) -> None:
    details = _errors(_in_column({"id": "bad-node", "type": type_, "props": props}))
    assert any(
        d["node_id"] == "bad-node"
        and d["loc"][: len(CONTENT_LOC) + 1] == [*CONTENT_LOC, "props"]
        and str(d["loc"][-1]) == field
        for d in details
    ), details


@pytest.mark.parametrize(
    ("type_", "props", "field"),
    [
        ("section", {"background_color": "red"}, "background_color"),
        ("section", {"padding": "huge"}, "padding"),
        ("section", {"anchor": "Not A Slug"}, "anchor"),
        ("section", {"style": "x"}, "style"),
    ],
)
def test_invalid_section_props(type_: str, props: dict[str, Any], field: str) -> None:
    details = _errors([{"id": "sec", "type": type_, "props": props}])
    assert details[0]["loc"] == ["elements", 0, "props", field]
    assert details[0]["node_id"] == "sec"


def test_invalid_row_and_column_props() -> None:
    tree = [
        {
            "id": "s",
            "type": "section",
            "children": [
                {
                    "id": "r",
                    "type": "row",
                    "props": {"gap": "huge"},
                    "children": [{"id": "c", "type": "column", "props": {"width": 13}}],
                }
            ],
        }
    ]
    details = _errors(tree)
    assert {(d["node_id"], d["loc"][-1]) for d in details} == {("r", "gap"), ("c", "width")}


def test_every_element_tree_is_valid_and_complete() -> None:
    nodes = parse_tree(every_element_tree())
    assert {n.type for n in walk_nodes(nodes)} == set(ELEMENTS)


@pytest.mark.parametrize(
    ("tree", "loc", "node_id"),
    [
        # a content element at the root
        ([{"id": "h", "type": "headline", "props": {"text": "x"}}], ["elements", 0, "type"], "h"),
        # a column straight inside a section
        (
            [{"id": "s", "type": "section", "children": [{"id": "c", "type": "column"}]}],
            ["elements", 0, "children", 0, "type"],
            "c",
        ),
        # a section inside a column
        (_in_column({"id": "inner", "type": "section"}), [*CONTENT_LOC, "type"], "inner"),
        # a content element inside a row
        (
            [
                {
                    "id": "s",
                    "type": "section",
                    "children": [
                        {"id": "r", "type": "row", "children": [{"id": "t", "type": "divider"}]}
                    ],
                }
            ],
            ["elements", 0, "children", 0, "children", 0, "type"],
            "t",
        ),
        # content elements have no children (depth 5)
        (
            _in_column(
                {"id": "d", "type": "divider", "children": [{"id": "e", "type": "divider"}]}
            ),
            [*CONTENT_LOC, "children"],
            "d",
        ),
        # a row without columns
        (
            [{"id": "s", "type": "section", "children": [{"id": "r", "type": "row"}]}],
            ["elements", 0, "children", 0, "children"],
            "r",
        ),
        # a row with seven columns
        (
            [
                {
                    "id": "s",
                    "type": "section",
                    "children": [
                        {
                            "id": "r",
                            "type": "row",
                            "children": [{"type": "column"} for _ in range(7)],
                        }
                    ],
                }
            ],
            ["elements", 0, "children", 0, "children"],
            "r",
        ),
        # an unknown type
        (_in_column({"id": "m", "type": "marquee"}), [*CONTENT_LOC, "type"], "m"),
        # an unknown node field
        ([{"id": "s", "type": "section", "html": "<b>"}], ["elements", 0, "html"], "s"),
        # props and children of the wrong type
        ([{"id": "s", "type": "section", "props": []}], ["elements", 0, "props"], "s"),
        ([{"id": "s", "type": "section", "children": {}}], ["elements", 0, "children"], "s"),
        # a node that is not an object
        (["section"], ["elements", 0], None),
        # a bad id
        ([{"id": "a b", "type": "section"}], ["elements", 0, "id"], None),
        ([{"id": "x" * 65, "type": "section"}], ["elements", 0, "id"], None),
        ([{"id": 7, "type": "section"}], ["elements", 0, "id"], None),
    ],
)
def test_tree_rules_point_at_the_bad_node(tree: Any, loc: list[Any], node_id: str | None) -> None:
    details = _errors(tree)
    assert any(d["loc"] == loc and d["node_id"] == node_id for d in details), details


def test_six_columns_are_allowed() -> None:
    tree = [
        {
            "type": "section",
            "children": [{"type": "row", "children": [{"type": "column"} for _ in range(6)]}],
        }
    ]
    assert len(normalize(tree)[0]["children"][0]["children"]) == 6


def test_duplicate_ids_are_refused() -> None:
    details = _errors(
        _in_column({"id": "dup", "type": "divider"}, {"id": "dup", "type": "divider"})
    )
    assert details == [
        {
            "loc": ["elements", 0, "children", 0, "children", 0, "children", 1, "id"],
            "node_id": "dup",
            "msg": "duplicate element id",
            "type": "duplicate_id",
        }
    ]


def test_duplicate_ids_across_levels_are_refused() -> None:
    details = _errors(_in_column({"id": "s", "type": "divider"}))
    assert details[0]["loc"] == [*CONTENT_LOC, "id"]


def test_node_count_is_limited() -> None:
    columns_per_row = 6
    per_row = 1 + columns_per_row * (1 + 10)  # a row, its columns, ten dividers in each
    rows = MAX_NODES // per_row + 1
    tree = [
        {
            "type": "section",
            "children": [
                {
                    "type": "row",
                    "children": [
                        {"type": "column", "children": [{"type": "divider"} for _ in range(10)]}
                        for _ in range(columns_per_row)
                    ],
                }
                for _ in range(rows)
            ],
        }
    ]
    details = _errors(tree)
    assert [d["type"] for d in details] == ["too_many_nodes"]


def test_a_tree_just_under_the_limit_is_fine() -> None:
    # 1 section + 1 row + 6 columns + 6 * 332 dividers = 2000 nodes
    tree = [
        {
            "type": "section",
            "children": [
                {
                    "type": "row",
                    "children": [
                        {"type": "column", "children": [{"type": "divider"} for _ in range(332)]}
                        for _ in range(6)
                    ],
                }
            ],
        }
    ]
    assert len(walk_nodes(parse_tree(tree))) == MAX_NODES


def test_elements_must_be_a_list() -> None:
    details = _errors({"type": "section"})
    assert details[0]["loc"] == ["elements"]


def test_several_errors_are_all_reported() -> None:
    details = _errors(
        _in_column(
            {"id": "a", "type": "button", "props": {"label": "", "href": "javascript:x"}},
            {"id": "b", "type": "headline", "props": {}},
        )
    )
    assert {(d["node_id"], d["loc"][-1]) for d in details} == {
        ("a", "label"),
        ("a", "href"),
        ("b", "text"),
    }


URLS: list[tuple[str, bool]] = [
    ("javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False),
    (" javascript:alert(1)", False),
    ("java\tscript:alert(1)", False),
    ("java\nscript:alert(1)", False),
    ("java\x00script:alert(1)", False),
    ("\x01javascript:alert(1)", False),
    ("javascript\t:alert(1)", False),
    ("data:text/html;base64,PHNjcmlwdD4=", False),
    ("DATA:image/png;base64,xx", False),
    ("vbscript:msgbox(1)", False),
    ("file:///etc/passwd", False),
    ("ftp://example.com/x", False),
    ("", False),
    ("   ", False),
    ("https://exa mple.com", False),
    ("https://" + "a" * 2000, False),
    ("mailto:someone@example.com", True),
    ("https://example.com/a?b=c#d", True),
    ("http://example.com", True),
    ("HTTPS://EXAMPLE.COM", True),
    ("/relative/path", True),
    ("#anchor", True),
    ("x/y", True),
    ("page.html?a=1", True),
    ("//cdn.example.com/a.png", True),
    ("javascript&#58;alert(1)", True),  # no scheme at all: a relative path, harmless
]


@pytest.mark.parametrize(("url", "ok"), URLS)
def test_url_rule(url: str, ok: bool) -> None:
    if ok:
        assert check_url(url) == url.strip()
    else:
        with pytest.raises(ValueError, match=r"."):
            check_url(url)


def test_url_rule_applies_to_every_url_prop() -> None:
    url_props = [
        ("image", {"src": "x"}, "src"),
        ("image", {"src": "/x", "link": "x"}, "link"),
        ("video", {"provider": "file", "source": "x"}, "source"),
        ("button", {"label": "x", "href": "x"}, "href"),
        ("testimonial", {"quote": "q", "author": "a", "avatar": "x"}, "avatar"),
        (
            "pricing",
            {"plan": "p", "price_cents": 1, "currency": "USD", "cta_href": "x"},
            "cta_href",
        ),
    ]
    for type_, props, key in url_props:
        normalize(_in_column({"type": type_, "props": props}))
        details = _errors(_in_column({"type": type_, "props": {**props, key: "JavaScript:1"}}))
        assert details[0]["loc"][-1] == key


def test_library_describes_every_type() -> None:
    entries = {e["type"]: e for e in library()}
    assert set(entries) == set(ELEMENTS)
    assert entries["section"]["root"] is True
    assert entries["section"]["children"] == ["row"]
    assert entries["row"]["children"] == ["column"]
    assert entries["row"]["max_children"] == 6
    assert entries["headline"]["children"] == []
    assert "headline" in entries["column"]["children"]
    button = entries["button"]["props_schema"]
    assert set(button["required"]) == {"label", "href"}
    assert button["additionalProperties"] is False
    assert button["properties"]["href"]["maxLength"] == 2000
    assert entries["pricing"]["category"] == "conversion"
    assert "FormField" in str(entries["form"]["props_schema"])


# --- rendering ---------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_rendered_page_is_a_full_document() -> None:
    html = render_page(
        name="Launch <now>",
        elements=every_element_tree(),
        seo={"description": 'A "great" page', "noindex": True, "og_image": "/og.png"},
        device="tablet",
    )
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Launch &lt;now&gt;</title>" in html
    tags = _tags(html)
    metas = [a for t, a in tags if t == "meta"]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert {"name": "description", "content": 'A "great" page'} in metas
    assert {"name": "robots", "content": "noindex, nofollow"} in metas
    assert {"property": "og:image", "content": "/og.png"} in metas
    body = next(a for t, a in tags if t == "body")
    assert body["class"] == "device-tablet"
    assert "<style>" in html
    # no external resource except the configured ones
    external = [a.get("src") or a.get("href") for t, a in tags if t in ("script", "link", "iframe")]
    assert external == [
        "data:,",  # the empty favicon
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        None,
        "https://js.stripe.com/v3/",
    ]


def test_seo_title_wins_and_robots_only_when_noindex() -> None:
    html = render_page(name="Name", elements=[], seo={"title": "SEO title"})
    assert "<title>SEO title</title>" in html
    assert "robots" not in html
    assert "<script" not in html


@pytest.mark.parametrize(("device", "width"), [("desktop", 1200), ("tablet", 768), ("mobile", 375)])
def test_each_device_has_its_width(device: Any, width: int) -> None:
    html = render_page(name="x", elements=[], seo={}, device=device)
    assert f'<body class="device-{device}">' in html
    rule = (
        ".container{max-width:1200px"
        if device == "desktop"
        else f"body.device-{device} .container{{max-width:{width}px}}"
    )
    assert rule in html


def test_stripe_js_only_with_an_order_form_and_once() -> None:
    with_two = render_page(
        name="x", elements=_in_column({"type": "order_form"}, {"type": "order_form"}), seo={}
    )
    assert with_two.count("js.stripe.com") == 1
    without = render_page(name="x", elements=_in_column({"type": "divider"}), seo={})
    assert "stripe" not in without


def test_countdown_renders_the_time_left_server_side() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    tree = _in_column(
        {
            "type": "countdown",
            "props": {"ends_at": (now + timedelta(days=2, seconds=3723)).isoformat()},
        },
        {
            "type": "countdown",
            "props": {"ends_at": "2029-12-31T00:00:00Z", "expired_text": "Gone <b>"},
        },
    )
    html = render_page(name="x", elements=tree, seo={}, now=now)
    assert "2d 01:02:03" in html
    assert "Gone &lt;b&gt;" in html
    assert 'data-ends-at="2030-01-03T01:02:03+00:00"' in html
    assert html.count("<script") == 1


def test_evergreen_countdown_shows_its_duration_and_counts_from_the_first_view() -> None:
    tree = _in_column(
        {
            "type": "countdown",
            "props": {"duration_minutes": 2 * 1440 + 61, "label": "Ends <soon>", "align": "center"},
        }
    )
    html = render_page(name="x", elements=tree, seo={}, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert "2d 01:01:00" in html
    assert 'data-duration-minutes="2941"' in html
    assert ' data-ends-at="' not in html
    assert "Ends &lt;soon&gt;" in html
    assert "el-countdown align-center" in html
    # The script keeps the first view with the visitor and counts from it.
    assert "localStorage" in page_script()
    assert "data-duration-minutes" in page_script()


def test_remaining_and_price_formatting() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert remaining(now + timedelta(seconds=59), now) == "00:00:59"
    assert remaining(now, now) is None
    assert format_price(4900, "USD") == "49.00 USD"
    assert format_price(123456789, "EUR") == "1,234,567.89 EUR"
    assert format_price(500, "JPY") == "500 JPY"


def test_rich_text_keeps_basic_markup_and_drops_the_rest() -> None:
    cleaned = str(
        sanitize_rich_text(
            '<p style="color:red" onclick="x()">Hi <strong>there</strong>'
            '<a href="https://e.com" target="_top">link</a><a href="javascript:alert(1)">bad</a>'
            '<img src=x onerror=alert(1)><script>alert(1)</script><iframe srcdoc="x"></iframe>'
            "<h2>T</h2><h1>big</h1><ul><li>i</li></ul></p>"
        )
    )
    assert "<strong>there</strong>" in cleaned
    assert '<a href="https://e.com" rel="noopener noreferrer nofollow">link</a>' in cleaned
    assert "<h2>T</h2>" in cleaned
    assert "<li>i</li>" in cleaned
    for banned in (
        "onclick",
        "style",
        "javascript",
        "<img",
        "<script",
        "alert",
        "<iframe",
        "srcdoc",
        "<h1",
        "target",
    ):
        assert banned not in cleaned, banned


def test_video_embeds_use_the_configured_bases() -> None:
    tree = _in_column(
        {"type": "video", "props": {"provider": "youtube", "source": "abc", "autoplay": True}},
        {"type": "video", "props": {"provider": "vimeo", "source": "42"}},
        {"type": "video", "props": {"provider": "file", "source": "/media/v.mp4"}},
    )
    tags = _tags(render_page(name="x", elements=tree, seo={}))
    frames = [a["src"] for t, a in tags if t == "iframe"]
    assert frames == [
        "https://www.youtube-nocookie.com/embed/abc?autoplay=1&mute=1",
        "https://player.vimeo.com/video/42",
    ]
    assert [a["src"] for t, a in tags if t == "video"] == ["/media/v.mp4"]


def test_render_refuses_an_invalid_stored_tree() -> None:
    with pytest.raises(InvalidElements):
        render_page(name="x", elements=[{"type": "headline"}], seo={})


def test_a_500_element_page_renders_well_under_50_ms() -> None:
    content = [
        {"type": "headline", "props": {"text": "Hello"}},
        {"type": "text", "props": {"html": "<p>Some <b>rich</b> text</p>"}},
        {"type": "button", "props": {"label": "Go", "href": "/go"}},
        {"type": "image", "props": {"src": "/a.png"}},
        {"type": "divider"},
    ]
    tree = [
        {
            "type": "section",
            "children": [
                {
                    "type": "row",
                    "children": [
                        {"type": "column", "children": [dict(c) for c in content]} for _ in range(3)
                    ],
                }
            ],
        }
        for _ in range(25)
    ]
    assert len(walk_nodes(parse_tree(tree))) == 500
    render_page(name="warm-up", elements=tree, seo={})
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        render_page(name="x", elements=tree, seo={})
        best = min(best, time.perf_counter() - started)
    assert best < 0.05, f"{best * 1000:.1f} ms"


def test_an_unencodable_unknown_key_is_reported_without_echoing_it() -> None:
    details = _errors([{"type": "section", "\ud800": 1}])
    assert details[0]["loc"] == ["elements", 0, "<invalid key>"]
    assert details[0]["type"] == "extra_forbidden"


def test_null_props_and_children_mean_empty() -> None:
    tree = normalize([{"id": None, "type": "section", "props": None, "children": None}])
    assert tree[0]["props"]["padding"] == "medium"
    assert tree[0]["children"] == []
