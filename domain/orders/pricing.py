"""Pricing a cart on the server, from the catalogue: what a checkout charges, and why."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from domain.products.models import Product
from domain.shared.errors import InvalidInput

ItemKind = Literal["main", "bump", "upsell"]


@dataclass(frozen=True)
class PricedItem:
    """One line of a cart at the catalogue's price."""

    product_id: uuid.UUID
    kind: ItemKind
    name: str
    unit_price_cents: int
    quantity: int = 1

    @property
    def total_cents(self) -> int:
        """What this line costs."""
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class PricedCart:
    """A cart priced from the catalogue, in one currency."""

    currency: str
    items: list[PricedItem] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        """What the whole cart costs."""
        return sum(item.total_cents for item in self.items)


def price_cart(
    *,
    main: Product | None,
    offered_bumps: list[uuid.UUID],
    chosen_bumps: list[uuid.UUID],
    products: dict[uuid.UUID, Product],
) -> PricedCart:
    """The offer's product plus the chosen bumps, at catalogue prices, or 422 saying why not.

    main is the offer step's product (None when it is no longer sellable); offered_bumps are
    the bumps the step offers; products holds every sellable product involved, by id.
    """
    if main is None:
        raise InvalidInput("The offer's product is not for sale", code="product_unavailable")
    problems = []
    for i, bump_id in enumerate(chosen_bumps):
        if bump_id not in offered_bumps:
            problems.append({"loc": ["body", "bump_product_ids", i], "msg": "not offered here"})
        elif bump_id not in products:
            problems.append({"loc": ["body", "bump_product_ids", i], "msg": "not for sale"})
        elif products[bump_id].currency != main.currency:
            problems.append(
                {"loc": ["body", "bump_product_ids", i], "msg": "priced in another currency"}
            )
    if len(set(chosen_bumps)) != len(chosen_bumps):
        problems.append({"loc": ["body", "bump_product_ids"], "msg": "a bump is named twice"})
    if problems:
        raise InvalidInput("Those bumps cannot be added", code="invalid_bumps", details=problems)
    items = [PricedItem(main.id, "main", main.name, main.price_cents)]
    items += [
        PricedItem(b, "bump", products[b].name, products[b].price_cents) for b in chosen_bumps
    ]
    return PricedCart(currency=main.currency, items=items)
