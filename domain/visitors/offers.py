"""What each offer on a visitor page charges, from the catalogue and the published snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from domain.funnels.service import LiveStep
from domain.products import service as products

ONE_CLICK_STEPS = ("upsell", "downsell")


@dataclass(frozen=True)
class Line:
    """One product offered on a page, at its catalogue price."""

    product_id: uuid.UUID
    name: str
    description: str | None
    price_cents: int
    currency: str


@dataclass(frozen=True)
class Offer:
    """A step's offer: the main product and (order forms) the bumps it offers."""

    step_type: str
    main: Line
    bumps: list[Line] = field(default_factory=list)


def _line(product: Any) -> Line:
    return Line(
        product.id, product.name, product.description, product.price_cents, product.currency
    )


def offer_of(session: Session, live: LiveStep) -> Offer | None:
    """The step's offer as it is for sale now; None when the step sells nothing (or nothing
    sellable is left: the page then shows no price, and checkout refuses with its reason)."""
    step = live.step
    if step["step_type"] not in ("order_form", *ONE_CLICK_STEPS) or not step["product_id"]:
        return None
    main_id = uuid.UUID(step["product_id"])
    bump_ids = [uuid.UUID(b) for b in step["bump_product_ids"]]
    catalogue = products.sellable_by_id(
        session, account_id=live.account_id, product_ids=[main_id, *bump_ids]
    )
    main = catalogue.get(main_id)
    if main is None:
        return None
    # A bump in another currency could not be added to this cart: it is not offered.
    bumps = [
        _line(catalogue[b])
        for b in bump_ids
        if b in catalogue and catalogue[b].currency == main.currency
    ]
    return Offer(step["step_type"], _line(main), bumps if step["step_type"] == "order_form" else [])


def next_step(live: LiveStep, *, accepted: bool = False) -> dict[str, Any] | None:
    """The step a visitor goes to from this one (None at the last).

    An accepted upsell skips the downsells right after it: they are the cheaper offer made
    to someone who said no.
    """
    index = next(i for i, s in enumerate(live.steps) if s["id"] == live.step["id"])
    rest = live.steps[index + 1 :]
    if accepted and live.step["step_type"] == "upsell":
        while rest and rest[0]["step_type"] == "downsell":
            rest = rest[1:]
    return rest[0] if rest else None
