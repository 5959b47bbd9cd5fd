"""Building funnels, pages and products through the API for tests and benchmarks."""

from __future__ import annotations

from typing import Any

FUNNELS = "/api/v1/funnels"

SIMPLE_TREE = [
    {
        "id": "s1",
        "type": "section",
        "children": [
            {
                "id": "r1",
                "type": "row",
                "children": [
                    {
                        "id": "c1",
                        "type": "column",
                        "children": [{"id": "h1", "type": "headline", "props": {"text": "Hi"}}],
                    }
                ],
            }
        ],
    }
]


def ok(r: Any, status: int = 200) -> Any:
    """The JSON body of a response that must have this status."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def product(client: Any, headers: dict[str, str], name: str = "Course", cents: int = 4900) -> str:
    """A new product's id."""
    body = {"name": name, "price_cents": cents, "currency": "USD"}
    return ok(client.post("/api/v1/products", json=body, headers=headers), 201)["id"]  # type: ignore[no-any-return]


def page(client: Any, headers: dict[str, str], name: str = "Page", **extra: Any) -> str:
    """A new page's id (a small valid element tree)."""
    body = {"name": name, "page_type": "generic", "elements": SIMPLE_TREE, **extra}
    return ok(client.post("/api/v1/pages", json=body, headers=headers), 201)["id"]  # type: ignore[no-any-return]


def complete_funnel(client: Any, headers: dict[str, str], name: str = "Launch") -> dict[str, Any]:
    """A draft funnel that passes publish validation: optin, order (+bump), upsell, thanks."""
    main, bump, upsell = (product(client, headers, n) for n in ("Main", "Bump", "Upsell"))
    steps = [
        {"name": "Opt-in", "step_type": "optin", "page_id": page(client, headers, "Optin")},
        {
            "name": "Order",
            "step_type": "order_form",
            "page_id": page(client, headers, "Order"),
            "product_id": main,
            "bump_product_ids": [bump],
        },
        {
            "name": "Upsell",
            "step_type": "upsell",
            "page_id": page(client, headers, "Upsell"),
            "product_id": upsell,
        },
        {"name": "Thanks", "step_type": "thank_you", "page_id": page(client, headers, "Thanks")},
    ]
    body = {"name": name, "funnel_type": "sales", "steps": steps}
    return ok(client.post(FUNNELS, json=body, headers=headers), 201)  # type: ignore[no-any-return]


def live_checkout(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    """A published complete funnel, its order form step, and the body that buys from it."""
    funnel = complete_funnel(client, headers)
    ok(client.patch(f"{FUNNELS}/{funnel['id']}", json={"status": "active"}, headers=headers))
    order = funnel["steps"][1]
    return {
        "funnel": funnel,
        "order": order,
        "body": {"funnel_id": funnel["id"], "step_id": order["id"]},
    }
