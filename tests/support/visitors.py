"""Live funnels from the template library, and a visitor's posts, for visitor-page tests."""

from __future__ import annotations

import re
from typing import Any

from tests.support.funnels import FUNNELS, ok


def live_template(client: Any, headers: dict[str, str], key: str) -> dict[str, Any]:
    """A funnel made from a library template and published: the funnel and steps by slug."""
    templates = ok(client.get(f"{FUNNELS}/templates", params={"page_size": 100}, headers=headers))
    template = next(t for t in templates["items"] if t["key"] == key)
    body = {"template_id": template["id"]}
    funnel = ok(client.post(f"{FUNNELS}/from-template", json=body, headers=headers), 201)
    funnel = ok(
        client.patch(f"{FUNNELS}/{funnel['id']}", json={"status": "active"}, headers=headers)
    )
    return {"funnel": funnel, "steps": {s["slug"]: s for s in funnel["steps"]}}


def step_url(account_slug: str, live: dict[str, Any], slug: str) -> str:
    """A step's public URL."""
    return f"/f/{account_slug}/{live['funnel']['slug']}/{slug}"


def context_of(html: str) -> dict[str, Any]:
    """The page's #fp-visit block (what its script reads)."""
    import json

    match = re.search(r'<script type="application/json" id="fp-visit">(.*?)</script>', html)
    assert match, "the page carries no visitor context"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def set_cookies(response: Any) -> dict[str, str]:
    """Set-Cookie headers of a response, by cookie name (the whole header line)."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}
