"""Server-side cart pricing: catalogue prices only, bumps only as offered, one currency."""

from __future__ import annotations

import uuid

import pytest

from domain.orders.pricing import price_cart
from domain.products.models import Product
from domain.shared.errors import InvalidInput


def _product(name: str, cents: int, currency: str = "USD") -> Product:
    return Product(id=uuid.uuid4(), name=name, price_cents=cents, currency=currency, active=True)


MAIN = _product("Course", 9700)
BUMP = _product("Workbook", 1900)
EURO = _product("Euro bump", 500, "EUR")
CATALOGUE = {p.id: p for p in (MAIN, BUMP, EURO)}


def test_the_cart_is_priced_from_the_catalogue() -> None:
    cart = price_cart(
        main=MAIN, offered_bumps=[BUMP.id], chosen_bumps=[BUMP.id], products=CATALOGUE
    )
    assert cart.currency == "USD"
    assert [(i.kind, i.unit_price_cents) for i in cart.items] == [("main", 9700), ("bump", 1900)]
    assert cart.total_cents == 11600


def test_without_bumps_the_cart_is_the_offer_alone() -> None:
    cart = price_cart(main=MAIN, offered_bumps=[BUMP.id], chosen_bumps=[], products=CATALOGUE)
    assert cart.total_cents == 9700


@pytest.mark.parametrize(
    ("offered", "chosen", "problem"),
    [
        ([], [BUMP.id], "not offered here"),
        ([BUMP.id], [BUMP.id, BUMP.id], "a bump is named twice"),
        ([EURO.id], [EURO.id], "priced in another currency"),
        ([uuid.UUID(int=7)], [uuid.UUID(int=7)], "not for sale"),
    ],
)
def test_bumps_must_be_offered_sellable_and_in_the_same_currency(
    offered: list[uuid.UUID], chosen: list[uuid.UUID], problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        price_cart(main=MAIN, offered_bumps=offered, chosen_bumps=chosen, products=CATALOGUE)
    assert caught.value.code == "invalid_bumps"
    assert problem in [d["msg"] for d in caught.value.details or []]


def test_an_offer_whose_product_is_not_for_sale_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        price_cart(main=None, offered_bumps=[], chosen_bumps=[], products=CATALOGUE)
    assert caught.value.code == "product_unavailable"
