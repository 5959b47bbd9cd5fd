"""The buyer's order, remembered in an HttpOnly cookie on the account's /f/ path."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from domain.orders import service as orders
from domain.orders.schemas import OrderOut
from domain.products import service as products
from domain.shared.errors import NotFound
from domain.visitors.identity import ORDER_COOKIE


def cookie_value(order_id: uuid.UUID, token: str) -> str:
    """What the cookie holds: the order and its customer token (the token is the secret)."""
    return f"{order_id}.{token}"


def parse(value: str | None) -> tuple[uuid.UUID, str] | None:
    """(order id, customer token) from the cookie, or None when it is not ours."""
    if not value or "." not in value:
        return None
    head, _, token = value.partition(".")
    try:
        return uuid.UUID(head), token
    except ValueError:
        return None


def verified_order(
    db: Session, account_id: uuid.UUID, order_id: uuid.UUID, token: str
) -> OrderOut | None:
    """The account's order when the token is its customer token (else None)."""
    try:
        order = orders.get_order(db, account_id=account_id, order_id=order_id)
    except NotFound:
        return None
    if not token or not hmac.compare_digest(orders.hash_token(token), order.customer_token_hash):
        return None
    return orders.order_detail(db, account_id=account_id, order_id=order_id)


def from_cookie(db: Session, request: Request, account_id: uuid.UUID) -> OrderOut | None:
    """The order the visitor's cookie names, verified."""
    parsed = parse(request.cookies.get(ORDER_COOKIE))
    return verified_order(db, account_id, *parsed) if parsed else None


def remember(
    request: Request, response: Response, account_slug: str, value: str, minutes: int
) -> None:
    """Set the HttpOnly order cookie, sent only to this account's funnel pages."""
    response.set_cookie(
        ORDER_COOKIE,
        value,
        max_age=minutes * 60,
        path=f"/f/{account_slug}/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def receipt_view(db: Session, account_id: uuid.UUID, order: OrderOut) -> dict[str, Any]:
    """What the thank-you page lists: the items, and accepted offers still being charged."""
    items = [{"name": i.name, "total_cents": i.unit_price_cents * i.quantity} for i in order.items]
    charged = {i.product_id for i in order.items if i.kind == "upsell"}
    pending = [u for u in order.upsells if u.decision == "accepted" and u.product_id not in charged]
    if pending:
        names = products.sellable_by_id(
            db, account_id=account_id, product_ids=[u.product_id for u in pending]
        )
        items += [
            {
                "name": f"{names[u.product_id].name if u.product_id in names else 'Offer'} "
                "(being charged)",
                "total_cents": u.price_cents,
            }
            for u in pending
        ]
    return {
        "number": order.number,
        "currency": order.currency,
        "items": items,
        "total_cents": sum(i["total_cents"] for i in items),
    }
