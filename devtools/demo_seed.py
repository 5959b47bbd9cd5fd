"""What `./dev demo` sets up through the public API: an account, products, a live funnel.

The funnel is the tripwire template (order form with a bump, upsell, downsell, thank-you)
with the lead-magnet template's opt-in page put in front, so a visitor can leave, opt in,
buy, take the bump and answer the offers. A running split test divides the opt-in step
between its page and a challenger headline.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.funnels.library import load_library

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo password 1234"  # noqa: S105 - a local demo login, printed on purpose
TEMPLATE = "tripwire"
OPTIN_TEMPLATE = "lead-magnet"
AB_TESTS = "/api/v1/analytics/ab-tests"


class SeedError(RuntimeError):
    """The API refused something the demo needs; the message says what."""


@dataclass
class Demo:
    """Everything the visitors and the banner need to know about the demo funnel."""

    api: str
    token: str
    publishable_key: str
    account_slug: str
    funnel: dict[str, Any]
    steps: dict[str, dict[str, Any]]  # by step_type
    bump_product_ids: list[str]
    split_test: str = ""  # what became of the split test, for the banner
    notes: list[str] = field(default_factory=list)

    @property
    def funnel_url(self) -> str:
        """The live funnel's entry URL."""
        return f"{self.api}/f/{self.account_slug}/{self.funnel['slug']}"

    def step_url(self, step_type: str) -> str:
        """The live URL of the funnel's step of this type."""
        return f"{self.funnel_url}/{self.steps[step_type]['slug']}"


def _ok(r: httpx.Response, *statuses: int) -> Any:
    if r.status_code not in statuses:
        raise SeedError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


def login(client: httpx.Client) -> str:
    """The demo user's access token: registered on the first run, logged in afterwards."""
    body = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "account_name": "Demo Shop"}
    r = client.post("/api/v1/auth/register", json=body)
    if r.status_code == 201:
        return str(r.json()["access_token"])
    r = client.post("/api/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    return str(_ok(r, 200)["access_token"])


def _template(client: httpx.Client, key: str) -> dict[str, Any]:
    items = _ok(client.get("/api/v1/funnels/templates", params={"page_size": 100}), 200)["items"]
    for item in items:
        if item["key"] == key:
            return dict(item)
    raise SeedError(f"the template library has no {key!r}")


def _add_optin_step(client: httpx.Client, funnel_id: str) -> None:
    """The lead-magnet template's opt-in page, as the funnel's first step."""
    # The library endpoint lists steps without their pages: read the shipped file.
    template = next(t for t in load_library() if t.key == OPTIN_TEMPLATE)
    optin = next(s for s in template.steps if s.step_type == "optin")
    assert optin.page is not None
    page = {**optin.page, "name": "Demo opt-in", "funnel_id": funnel_id}
    page_id = _ok(client.post("/api/v1/pages", json=page), 201)["id"]
    step = {"name": "Opt-in", "slug": "optin", "step_type": "optin", "page_id": page_id}
    _ok(client.post(f"/api/v1/funnels/{funnel_id}/steps", json={**step, "position": 0}), 201)


def _challenger(client: httpx.Client, page_id: str) -> str:
    """A published copy of a page whose first headline says something else."""
    page = _ok(client.get(f"/api/v1/pages/{page_id}"), 200)
    elements = page["elements"]

    def retitle(nodes: list[dict[str, Any]]) -> bool:
        for node in nodes:
            if node.get("type") == "headline":
                node.setdefault("props", {})["text"] = "Get the free guide in 60 seconds"
                return True
            if retitle(node.get("children", [])):
                return True
        return False

    retitle(elements)
    name = "Demo opt-in (challenger)"
    body = {"name": name, "page_type": page["page_type"], "elements": elements}
    challenger = _ok(client.post("/api/v1/pages", json=body), 201)["id"]
    _ok(client.post(f"/api/v1/pages/{challenger}/publish"), 200)
    return str(challenger)


def _split_test(client: httpx.Client, demo: Demo) -> str:
    """Split the opt-in step between its page and a challenger headline, and start it."""
    optin = demo.steps["optin"]
    control = optin["page_id"]
    if _ok(client.get(f"/api/v1/pages/{control}"), 200)["status"] != "published":
        _ok(client.post(f"/api/v1/pages/{control}/publish"), 200)
    body = {
        "name": "Opt-in headline",
        "funnel_id": demo.funnel["id"],
        "step_id": optin["id"],
        "variants": [
            {"name": "control", "page_id": control, "percent": 50},
            {"name": "challenger", "page_id": _challenger(client, control), "percent": 50},
        ],
    }
    test = _ok(client.post(AB_TESTS, json=body), 201)
    _ok(client.patch(f"{AB_TESTS}/{test['id']}", json={"status": "running"}), 200)
    return f"{demo.api}{AB_TESTS}/{test['id']} (chart: …/chart.svg)"


def seed(api: str, timeout: float = 20) -> Demo:
    """Log in (or register), build and publish a demo funnel; the Demo that describes it."""
    with httpx.Client(base_url=api, timeout=timeout) as client:
        client.headers["Authorization"] = f"Bearer {login(client)}"
        me = _ok(client.get("/api/v1/auth/me"), 200)
        template = _template(client, TEMPLATE)
        name = f"Demo {secrets.token_hex(2)}"
        body = {"template_id": template["id"], "name": name}
        funnel = _ok(client.post("/api/v1/funnels/from-template", json=body), 201)
        _add_optin_step(client, funnel["id"])
        funnel = _ok(
            client.patch(f"/api/v1/funnels/{funnel['id']}", json={"status": "active"}), 200
        )
        steps = {s["step_type"]: s for s in funnel["steps"]}
        demo = Demo(
            api=api,
            token=client.headers["Authorization"].removeprefix("Bearer "),
            publishable_key=me["publishable_key"],
            account_slug=me["account"]["slug"],
            funnel=funnel,
            steps=steps,
            bump_product_ids=list(steps["order_form"]["bump_product_ids"]),
        )
        demo.split_test = _split_test(client, demo)
        return demo
