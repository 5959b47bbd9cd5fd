"""Split tests for tests: a funnel with published variant pages, and raw events as the drain
would store them (visitor ordinals from analytics_visitors)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text

from domain.analytics.models import AnalyticsEvent, AnalyticsVisitor
from domain.shared.db import unit_of_work
from tests.support.funnels import complete_funnel, ok, page

SPLITS = "/api/v1/analytics/ab-tests"


@dataclass(frozen=True)
class Setup:
    """A draft funnel (optin, order, upsell, thanks) and three published pages."""

    funnel: dict[str, Any]
    pages: list[str]

    @property
    def optin(self) -> dict[str, Any]:
        """The opt-in step (the one the tests split)."""
        return self.funnel["steps"][0]  # type: ignore[no-any-return]


def setup(client: Any, headers: dict[str, str]) -> Setup:
    """A funnel and three published pages of the account."""
    funnel = complete_funnel(client, headers, name="Split")
    pages = []
    for name in ("Control", "Headline", "Video"):
        page_id = page(client, headers, name)
        ok(client.post(f"/api/v1/pages/{page_id}/publish", headers=headers))
        pages.append(page_id)
    return Setup(funnel, pages)


def body(s: Setup, percents: tuple[float, ...] = (50, 50), **extra: Any) -> dict[str, Any]:
    """A create body splitting the opt-in step between the first pages."""
    return {
        "name": "Headline test",
        "funnel_id": s.funnel["id"],
        "step_id": s.optin["id"],
        "variants": [
            {"page_id": p, "percent": pct} for p, pct in zip(s.pages, percents, strict=False)
        ],
        **extra,
    }


def create(client: Any, headers: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
    """A created test's body."""
    return ok(client.post(SPLITS, json=payload, headers=headers), 201)  # type: ignore[no-any-return]


def patch(client: Any, headers: dict[str, str], test_id: str, **fields: Any) -> Any:
    """PATCH a test (the response, status unchecked)."""
    return client.patch(f"{SPLITS}/{test_id}", json=fields, headers=headers)


def record(account_id: uuid.UUID, events: list[dict[str, Any]]) -> None:
    """Store events as the drain would: each visitor gets the account's next ordinal."""
    with unit_of_work() as session:
        session.execute(text("LOCK TABLE analytics_visitors IN SHARE ROW EXCLUSIVE MODE"))
        known = {
            row.visitor_id: row.ordinal
            for row in session.execute(
                select(AnalyticsVisitor.visitor_id, AnalyticsVisitor.ordinal).where(
                    AnalyticsVisitor.account_id == account_id
                )
            )
        }
        nxt = int(
            session.scalar(
                select(func.coalesce(func.max(AnalyticsVisitor.ordinal) + 1, 0)).where(
                    AnalyticsVisitor.account_id == account_id
                )
            )
            or 0
        )
        fresh = []
        for visitor in dict.fromkeys(e["visitor_id"] for e in events):
            if visitor not in known:
                known[visitor] = nxt
                fresh.append({"account_id": account_id, "visitor_id": visitor, "ordinal": nxt})
                nxt += 1
        if fresh:
            session.execute(insert(AnalyticsVisitor), fresh)
        rows = [
            {
                "account_id": account_id,
                "event_id": uuid.uuid4().hex,
                "session_id": f"s-{e['visitor_id']}",
                "visitor_ordinal": known[e["visitor_id"]],
                **{k: _ids(k, v) for k, v in e.items()},
            }
            for e in events
        ]
        session.execute(insert(AnalyticsEvent), rows)


def _ids(key: str, value: Any) -> Any:
    """Ids sent as strings (as the API answers them) as uuids for the Uuid columns."""
    if key in UUID_COLUMNS and isinstance(value, str):
        return uuid.UUID(value)
    return value


UUID_COLUMNS = frozenset({"funnel_id", "step_id", "page_id", "ab_test_id", "variant_id"})


def exposure(
    visitor: str, test: dict[str, Any], variant: int, at: datetime, **extra: Any
) -> dict[str, Any]:
    """An exposure event of a visitor to a test's variant (by position)."""
    return {
        "type": "exposure",
        "visitor_id": visitor,
        "funnel_id": test["funnel_id"],
        "step_id": test["step_id"],
        "ab_test_id": test["id"],
        "variant_id": test["variants"][variant]["id"],
        "occurred_at": at,
        **extra,
    }


def goal(
    visitor: str,
    funnel_id: str,
    step_id: str | None,
    at: datetime,
    kind: str = "optin",
    **extra: Any,
) -> dict[str, Any]:
    """A goal-like event (optin by default) of a visitor at a step."""
    return {
        "type": kind,
        "visitor_id": visitor,
        "funnel_id": funnel_id,
        "step_id": step_id,
        "occurred_at": at,
        **extra,
    }


def refused(r: Any, status: int, code: str) -> None:
    """The response is an error with this status and code."""
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text
