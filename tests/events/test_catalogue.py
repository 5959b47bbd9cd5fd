"""The event catalogue: every recorded type is in it, and recording checks the payload."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from domain.events import catalogue, feed
from domain.events.reference import reference_markdown
from domain.orders.events import OrderPaid
from domain.shared import events
from domain.shared.events import DomainEvent, InvalidEvent, UnknownEventType

ROOT = Path(__file__).resolve().parents[2]

TODAY = {
    "order.created",
    "order.paid",
    "order.payment_failed",
    "order.cancelled",
    "order.fulfilled",
    "order.refunded",
    "order.bump_added",
    "upsell.accepted",
    "upsell.declined",
    "upsell.payment_failed",
    "contact.created",
    "contact.updated",
}
NEXT = {
    "refund.failed",
    "charge.dispute_created",
    "charge.dispute_closed",
    "contact.opted_in",
    "webhook.endpoint_disabled",
}


def _strings(node: ast.AST) -> Iterator[str]:
    """The string constants an argument can evaluate to (through conditionals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)


def _recorded_types() -> set[str]:
    """Every event type the domain code records, read from the calls in its source."""
    found: set[str] = set()
    for path in (ROOT / "domain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("order_event", "_order_refund_event") and len(node.args) >= 3:
                found.update(_strings(node.args[2]))
            elif name == "record":
                found.update(s for k in node.keywords if k.arg == "type" for s in _strings(k.value))
    return found


def test_every_type_the_code_records_is_in_the_catalogue() -> None:
    recorded = _recorded_types()
    assert recorded >= TODAY  # the scan sees the calls
    assert sorted(t for t in recorded if not catalogue.is_known(t)) == []


def test_the_catalogue_has_todays_types_and_the_next_modules() -> None:
    names = {t.name for t in catalogue.catalogue()}
    assert names >= TODAY | NEXT
    for event_type in catalogue.catalogue():
        assert event_type.fires.endswith(".")
        assert event_type.context
        assert catalogue.schema_of(event_type)["type"] == "object"
    assert catalogue.is_known("order.paid")
    assert not catalogue.is_known("order.exploded")


def test_recording_an_unknown_type_raises(db: Any, tenant: Any) -> None:
    with pytest.raises(UnknownEventType, match=r"order\.exploded"):
        events.record(db, account_id=tenant.account_id, type="order.exploded", payload={})
    assert not db.new


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": None},  # required
        {"amount_cents": "a lot"},  # wrong type
        {"currency": "dollars"},  # not an ISO code
        {"amount": 100},  # unknown field
    ],
)
def test_recording_a_payload_that_does_not_fit_raises(
    db: Any, tenant: Any, change: dict[str, Any]
) -> None:
    payload = {**_paid(), **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    with pytest.raises(InvalidEvent, match=r"order\.paid"):
        events.record(db, account_id=tenant.account_id, type="order.paid", payload=payload)
    assert not db.new


def _paid() -> dict[str, Any]:
    """A valid order.paid payload, with a uuid object and a lower-case currency."""
    return {
        "order_id": uuid.uuid4(),
        "number": 7,
        "funnel_id": None,
        "contact_id": str(uuid.uuid4()),
        "step_id": None,
        "amount_cents": 4900,
        "currency": "usd",
    }


def test_a_dict_payload_is_stored_as_its_models_json(db: Any, tenant: Any) -> None:
    payload = _paid()
    event = events.record(db, account_id=tenant.account_id, type="order.paid", payload=payload)
    db.flush()
    stored = db.scalar(select(DomainEvent.payload).where(DomainEvent.id == event.id))
    assert stored == {
        **payload,
        "order_id": str(payload["order_id"]),
        "currency": "USD",
        "visitor_id": None,  # defaults are stored too: a consumer reads every field
        "session_id": None,
        "bump_count": 0,
    }
    assert catalogue.parse("order.paid", stored) == OrderPaid.model_validate(payload)


def test_a_payload_model_is_accepted_and_must_be_the_types_own(db: Any, tenant: Any) -> None:
    model = OrderPaid.model_validate(_paid())
    event = events.record(db, account_id=tenant.account_id, type="order.paid", payload=model)
    assert event.payload["amount_cents"] == 4900
    with pytest.raises(InvalidEvent):
        events.record(db, account_id=tenant.account_id, type="contact.created", payload=model)


def test_a_type_is_defined_once() -> None:
    paid = catalogue.get("order.paid")
    catalogue.register(paid)  # the same definition again is harmless
    with pytest.raises(ValueError, match="twice"):
        catalogue.register(events.EventType("order.paid", "Other.", OrderPaid, "elsewhere"))


def test_a_consumer_of_unknown_types_is_refused() -> None:
    with pytest.raises(ValueError, match=r"order\.exploded"):
        feed.register("testing.bad", lambda *_: None, types=["order.paid", "order.exploded"])
    assert "testing.bad" not in {c.name for c in feed.registered()}


def test_the_docs_list_every_type_as_the_catalogue_defines_it() -> None:
    docs = (ROOT / "docs" / "events.md").read_text()
    reference = reference_markdown()
    for name in TODAY | NEXT:
        assert f"### `{name}`" in reference
    assert reference in docs, "regenerate it: python -m domain.events.reference"
