"""Element trees for tests: one valid tree that uses every element type at least once."""

from __future__ import annotations

from typing import Any


def _node(
    node_id: str,
    type_: str,
    props: dict[str, Any] | None = None,
    children: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    node: dict[str, Any] = {"id": node_id, "type": type_, "props": props or {}}
    if children is not None:
        node["children"] = children
    return node


def every_element_tree(
    *, image_url: str = "https://example.com/hero.png", product_id: str | None = None
) -> list[dict[str, Any]]:
    """A valid element tree (a fresh copy each call) with every element type at least once.

    Browser tests may pass image_url (e.g. an uploaded asset's URL) so no image 404s, and
    product_id (a product of the page's account) for the order form.
    """
    hero = _node(
        "hero",
        "section",
        {"background_color": "#f5f7fa", "padding": "large", "anchor": "top"},
        [
            _node(
                "hero-row",
                "row",
                {"gap": "medium"},
                [
                    _node(
                        "hero-left",
                        "column",
                        {"width": 7},
                        [
                            _node(
                                "headline-1",
                                "headline",
                                {"text": "Grow faster", "level": 1, "align": "center"},
                            ),
                            _node(
                                "text-1",
                                "text",
                                {
                                    "html": "<p>Our <strong>proven</strong> system, "
                                    '<a href="https://example.com/more">read more</a>.</p>',
                                    "align": "left",
                                },
                            ),
                            _node(
                                "button-1",
                                "button",
                                {
                                    "label": "Get it now",
                                    "href": "#order",
                                    "style": "primary",
                                    "new_tab": False,
                                },
                            ),
                        ],
                    ),
                    _node(
                        "hero-right",
                        "column",
                        {"width": 5},
                        [
                            _node(
                                "image-1",
                                "image",
                                {
                                    "src": image_url,
                                    "alt": "Hero",
                                    "width": 480,
                                    "link": "/learn",
                                },
                            ),
                            _node(
                                "video-1",
                                "video",
                                {
                                    "provider": "youtube",
                                    "source": "dQw4w9WgXcQ",
                                    "autoplay": False,
                                    "caption": "Watch the intro",
                                },
                            ),
                        ],
                    ),
                ],
            )
        ],
    )
    social = _node(
        "social",
        "section",
        {"padding": "medium"},
        [
            _node(
                "social-row",
                "row",
                {},
                [
                    _node(
                        "social-col-1",
                        "column",
                        {},
                        [
                            _node(
                                "testimonial-1",
                                "testimonial",
                                {
                                    "quote": "It changed my business.",
                                    "author": "Ada",
                                    "role": "Founder",
                                    "avatar": image_url,
                                    "rating": 5,
                                },
                            ),
                            _node("divider-1", "divider", {"style": "dashed", "spacing": "small"}),
                        ],
                    ),
                    _node(
                        "social-col-2",
                        "column",
                        {},
                        [
                            _node(
                                "pricing-1",
                                "pricing",
                                {
                                    "plan": "Pro",
                                    "price_cents": 4900,
                                    "currency": "USD",
                                    "features": ["All lessons", "Community"],
                                    "cta_label": "Join",
                                    "cta_href": "#order",
                                    "highlighted": True,
                                },
                            ),
                            _node(
                                "countdown-1",
                                "countdown",
                                {
                                    "ends_at": "2099-01-01T00:00:00+00:00",
                                    "expired_text": "Too late",
                                },
                            ),
                        ],
                    ),
                ],
            )
        ],
    )
    signup = _node(
        "order",
        "section",
        {"anchor": "order"},
        [
            _node(
                "order-row",
                "row",
                {"gap": "large"},
                [
                    _node(
                        "order-col-1",
                        "column",
                        {"width": 6},
                        [
                            _node(
                                "form-1",
                                "form",
                                {
                                    "fields": [
                                        {
                                            "name": "email",
                                            "label": "Email",
                                            "type": "email",
                                            "required": True,
                                            "placeholder": "you@example.com",
                                        },
                                        {
                                            "name": "first_name",
                                            "label": "First name",
                                            "type": "text",
                                        },
                                    ],
                                    "submit_label": "Send me the guide",
                                },
                            ),
                        ],
                    ),
                    _node(
                        "order-col-2",
                        "column",
                        {"width": 6},
                        [
                            _node(
                                "order-form-1",
                                "order_form",
                                {
                                    "product_id": product_id,
                                    "heading": "Complete your order",
                                    "submit_label": "Buy now",
                                    "show_bumps": True,
                                    "collect_phone": True,
                                },
                            ),
                        ],
                    ),
                ],
            )
        ],
    )
    return [hero, social, signup]
