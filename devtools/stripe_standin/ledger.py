"""The stand-in's state and operations: customers, PaymentIntents, charges, refunds, events.

Everything lives in memory behind one re-entrant lock; every operation runs whole under
it, so two refunds of one charge can never both pass the "not more than captured" check.
Operations take validated parameters and answer Stripe-shaped dicts (deep copies) or
raise StripeError; the HTTP layer (app.py) does parsing, auth, idempotency and faults.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe._api_version import _ApiVersion

from devtools.stripe_standin.cards import AUTHENTICATION_REQUIRED, CARDS, Card, Decline
from devtools.stripe_standin.errors import (
    ParamError,
    StripeError,
    card_error,
    not_found,
)
from devtools.stripe_standin.forms import Schema, require, validate

__all__ = ["API_VERSION", "Context", "Ledger", "new_id"]

API_VERSION: str = _ApiVersion.CURRENT
_ALPHABET = string.ascii_letters + string.digits

# Smallest chargeable amount per currency, in the currency's smallest unit (Stripe's table).
MINIMUM_AMOUNT = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "sgd": 50,
    "hkd": 400,
    "jpy": 50,
    "sek": 300,
    "nok": 300,
    "dkk": 250,
    "pln": 200,
    "czk": 1500,
    "huf": 17500,
    "mxn": 1000,
    "brl": 50,
    "inr": 50,
}
MAXIMUM_AMOUNT = 99_999_999
DISPUTE_CLOSED = ("won", "lost", "warning_closed", "prevented")
PI_STATUSES_MUTABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
PI_STATUSES_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)

_EXPAND = {"expand": "string_list"}
CUSTOMER_CREATE: Schema = {
    **_EXPAND,
    "email": "string",
    "name": "string",
    "business_name": "string",
    "individual_name": "string",
    "description": "string",
    "phone": "string",
    "metadata": "metadata",
    "payment_method": "string",
    "address": "any",
    "shipping": "any",
    "invoice_settings": {"default_payment_method": "string"},
    "preferred_locales": "string_list",
}
RETRIEVE: Schema = {**_EXPAND}
RETRIEVE_PI: Schema = {**_EXPAND, "client_secret": "string"}
# Real Stripe parameters the stand-in does not implement: a clear 400 rather than silence.
_UNSUPPORTED: Schema = {
    name: "unsupported"
    for name in (
        "payment_method_data",
        "confirmation_token",
        "mandate",
        "hooks",
        "payment_details",
        "on_behalf_of",
        "transfer_data",
        "application_fee_amount",
        "customer_account",
        "payment_method_configuration",
        "amount_details",
    )
}
_PI_COMMON: Schema = {
    **_EXPAND,
    "amount": "integer",
    "currency": "string",
    "customer": "string",
    "description": "string",
    "metadata": "metadata",
    "payment_method": "string",
    # stripe 16 (API 2026-10-28.endive) sends allowed_/excluded_payment_method_types;
    # payment_method_types is what older versions and Stripe.js send.
    "payment_method_types": "string_list",
    "allowed_payment_method_types": "string_list",
    "excluded_payment_method_types": "string_list",
    "payment_method_options": "any",
    "radar_options": "any",
    "receipt_email": "string",
    "shipping": "any",
    "setup_future_usage": {"off_session", "on_session"},
    "statement_descriptor": "string",
    "statement_descriptor_suffix": "string",
    "transfer_group": "string",
    "capture_method": {"automatic", "automatic_async"},
}
PI_CREATE: Schema = {
    **_PI_COMMON,
    "confirm": "boolean",
    "off_session": "off_session",
    "return_url": "string",
    "automatic_payment_methods": {"enabled": "boolean", "allow_redirects": {"always", "never"}},
    "confirmation_method": {"automatic", "manual"},
    "error_on_requires_action": "boolean",
    "mandate_data": "any",
    "use_stripe_sdk": "boolean",
    **_UNSUPPORTED,
}
PI_UPDATE: Schema = {**_PI_COMMON, **_UNSUPPORTED}
PI_CONFIRM: Schema = {
    **_EXPAND,
    "payment_method": "string",
    "off_session": "off_session",
    "return_url": "string",
    "setup_future_usage": {"off_session", "on_session"},
    "receipt_email": "string",
    "payment_method_options": "any",
    "mandate_data": "any",
    "error_on_requires_action": "boolean",
    "use_stripe_sdk": "boolean",
    "client_secret": "string",
    "shipping": "any",
    "allowed_payment_method_types": "string_list",
    "excluded_payment_method_types": "string_list",
    "radar_options": "any",
    "payment_method_data": "unsupported",
    "confirmation_token": "unsupported",
    "mandate": "unsupported",
}
PI_CANCEL: Schema = {
    **_EXPAND,
    "cancellation_reason": {"duplicate", "fraudulent", "requested_by_customer", "abandoned"},
}
REFUND_CREATE: Schema = {
    **_EXPAND,
    "charge": "string",
    "payment_intent": "string",
    "amount": "integer",
    "metadata": "metadata",
    "reason": {"duplicate", "fraudulent", "requested_by_customer"},
    "refund_application_fee": "boolean",
    "reverse_transfer": "boolean",
    "instructions_email": "string",
}

_LIST: Schema = {**_EXPAND, "limit": "integer", "starting_after": "string"}
REFUND_LIST: Schema = {**_LIST, "payment_intent": "string", "charge": "string"}
PI_LIST: Schema = {**_LIST, "customer": "string"}


def new_id(prefix: str, length: int = 24) -> str:
    """An id like Stripe's: prefix, underscore, random letters and digits."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Context:
    """Who asked: the request's id and idempotency key (events name them), key kind."""

    request_id: str | None = None
    idempotency_key: str | None = None
    publishable: bool = False


class Ledger:
    """All objects, counters and recorded events; one lock around all of it."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Start empty; on_event gets each new event after the operation's lock is released."""
        self.lock = threading.RLock()
        self.on_event = on_event
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        """Forget every object, event and counter."""
        with self.lock:
            self.customers: dict[str, dict[str, Any]] = {}
            self.payment_intents: dict[str, dict[str, Any]] = {}
            self.charges: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.payment_methods: dict[str, dict[str, Any]] = {}
            self.disputes: dict[str, dict[str, Any]] = {}
            self.events: list[dict[str, Any]] = []
            self.counts: Counter[str] = Counter()
            self._card: dict[str, Card] = {}  # behaviour of each PaymentMethod
            self._consumed: set[str] = set()  # used once without a customer: not reusable
            self._saved_off_session: set[str] = set()  # set up for off-session payments
            self._override: dict[str, Decline] = {}  # decline_future_charges
            self._hold_confirms = 0
            self._hold_refunds = 0
            self._outbox: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- dispatching

    def execute(
        self, op: str, object_id: str | None, params: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        """Run one API operation by name ("payment_intents.create", ...)."""
        handler: Callable[..., dict[str, Any]] = getattr(self, "_op_" + op.replace(".", "_"))
        try:
            with self.lock:
                try:
                    result = handler(object_id, params, ctx)
                except StripeError as exc:
                    if exc.store:  # the endpoint began executing
                        self.counts[op] += 1
                    raise
                self.counts[op] += 1
                return result
        finally:
            self.flush_events()

    def flush_events(self) -> None:
        """Hand the events recorded so far to on_event, outside the lock."""
        with self.lock:
            pending, self._outbox = self._outbox, []
        if self.on_event is not None:
            for event in pending:
                self.on_event(event)

    # --------------------------------------------------------------------- helpers

    def _emit(self, type_: str, obj: dict[str, Any], ctx: Context | None) -> dict[str, Any]:
        event = self.make_event(type_, obj, ctx)
        self._outbox.append(event)
        return event

    def make_event(
        self, type_: str, obj: dict[str, Any], ctx: Context | None = None
    ) -> dict[str, Any]:
        """Record an Event object (as Stripe would send it) for obj as it is now."""
        with self.lock:
            event = {
                "id": new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": _now(),
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {
                    "id": ctx.request_id if ctx else None,
                    "idempotency_key": ctx.idempotency_key if ctx else None,
                },
                "type": type_,
            }
            self.events.append(event)
            return copy.deepcopy(event)

    def find(self, object_id: str) -> dict[str, Any] | None:
        """The live object with this id, whatever its kind."""
        for store in (
            self.payment_intents,
            self.charges,
            self.customers,
            self.refunds,
            self.payment_methods,
            self.disputes,
        ):
            if object_id in store:
                return store[object_id]
        return None

    def _answer(self, obj: dict[str, Any], expand: list[str] | None) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for path in expand or []:
            self._expand_path(out, path.split("."), path)
        return out

    def _expand_path(self, node: dict[str, Any], parts: list[str], whole: str) -> None:
        field, rest = parts[0], parts[1:]
        if field not in node:
            raise ParamError(f"This property cannot be expanded ({whole}).", param="expand")
        value = node[field]
        if isinstance(value, str):
            target = self.find(value)
            if target is None:
                raise ParamError(f"This property cannot be expanded ({whole}).", param="expand")
            value = copy.deepcopy(target)
            node[field] = value
        if rest:
            if not isinstance(value, dict):
                raise ParamError(f"This property cannot be expanded ({whole}).", param="expand")
            self._expand_path(value, rest, whole)

    def _customer_ref(self, customer_id: str | None) -> str | None:
        if customer_id is not None and customer_id not in self.customers:
            raise not_found("customer", customer_id, param="customer", status=400)
        return customer_id

    def _new_payment_method(self, token: str) -> dict[str, Any]:
        card = CARDS[token]
        pm_id = new_id("pm")
        pm = {
            "id": pm_id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "country": card.country,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "funding": card.funding,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
            },
            "created": _now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self.payment_methods[pm_id] = pm
        self._card[pm_id] = card
        return pm

    def _resolve_payment_method(self, value: str, customer: str | None) -> dict[str, Any]:
        """A test token makes a new PaymentMethod; an id must be usable by this customer."""
        if value in CARDS:
            return self._new_payment_method(value)
        pm = self.payment_methods.get(value)
        if pm is None:
            raise not_found("PaymentMethod", value, param="payment_method", status=400)
        owner = pm["customer"]
        if owner is not None and customer is None:
            raise StripeError(
                400,
                "The provided PaymentMethod was previously attached to a Customer. To use a "
                "PaymentMethod attached to a Customer, you must also pass the ID of that "
                "Customer in the `customer` parameter.",
                param="payment_method",
            )
        if owner is not None and owner != customer:
            raise StripeError(
                400,
                f"The provided PaymentMethod {value} does not belong to Customer {customer}.",
                param="payment_method",
            )
        if owner is None and value in self._consumed:
            raise StripeError(
                400,
                "The provided PaymentMethod was previously used with a PaymentIntent without "
                "Customer attachment, shared with a connected account without Customer "
                "attachment, or was detached from a Customer. It may not be used again. To use "
                "a PaymentMethod multiple times, you must attach it to a Customer first.",
                param="payment_method",
            )
        return pm

    # -------------------------------------------------------------------- customers

    def _op_customers_create(
        self, _id: str | None, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, CUSTOMER_CREATE)
        cus_id = new_id("cus")
        customer: dict[str, Any] = {
            "id": cus_id,
            "object": "customer",
            "address": p.get("address"),
            "balance": 0,
            "created": _now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": p.get("description"),
            "email": p.get("email"),
            "invoice_prefix": cus_id[4:12].upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": p.get("metadata") or {},
            "name": p.get("name"),
            "phone": p.get("phone"),
            "preferred_locales": p.get("preferred_locales") or [],
            "shipping": p.get("shipping"),
            "tax_exempt": "none",
        }
        self.customers[cus_id] = customer
        if p.get("payment_method"):
            pm = self._resolve_payment_method(p["payment_method"], None)
            pm["customer"] = cus_id
            self._emit("payment_method.attached", pm, ctx)
        default_pm = (p.get("invoice_settings") or {}).get("default_payment_method")
        if default_pm:
            customer["invoice_settings"]["default_payment_method"] = default_pm
        self._emit("customer.created", customer, ctx)
        return self._answer(customer, p.get("expand"))

    def _op_customers_retrieve(
        self, cus_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE)
        if cus_id not in self.customers:
            raise not_found("customer", cus_id)
        return self._answer(self.customers[cus_id], p.get("expand"))

    def _op_payment_methods_retrieve(
        self, pm_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE)
        if pm_id not in self.payment_methods:
            raise not_found("PaymentMethod", pm_id)
        return self._answer(self.payment_methods[pm_id], p.get("expand"))

    # --------------------------------------------------------------- PaymentIntents

    def _check_amount(self, amount: int, currency: str) -> None:
        minimum = MINIMUM_AMOUNT[currency]
        if amount < 1:
            raise ParamError(
                "This value must be greater than or equal to 1.",
                param="amount",
                code="parameter_invalid_integer",
            )
        if amount < minimum:
            raise ParamError(
                f"Amount must be at least {minimum} in the smallest unit of {currency}",
                param="amount",
                code="amount_too_small",
            )
        if amount > MAXIMUM_AMOUNT:
            raise ParamError(
                f"Amount must be no more than {MAXIMUM_AMOUNT}",
                param="amount",
                code="amount_too_large",
            )

    @staticmethod
    def _check_currency(currency: str) -> str:
        if currency.lower() not in MINIMUM_AMOUNT:
            raise ParamError(f"Invalid currency: {currency}.", param="currency")
        return currency.lower()

    def _pi(self, pi_id: str) -> dict[str, Any]:
        if pi_id not in self.payment_intents:
            raise not_found("payment_intent", pi_id, param="intent")
        return self.payment_intents[pi_id]

    def _check_client_secret(self, pi: dict[str, Any], p: dict[str, Any], ctx: Context) -> None:
        secret = p.pop("client_secret", None)
        if ctx.publishable and secret is None:
            raise ParamError(
                "Missing required param: client_secret.",
                param="client_secret",
                code="parameter_missing",
            )
        if secret is not None and secret != pi["client_secret"]:
            raise StripeError(
                400,
                "The client_secret provided does not match the client_secret associated with "
                "the PaymentIntent.",
                param="client_secret",
            )

    def _op_payment_intents_create(
        self, _id: str | None, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, PI_CREATE)
        require(p, "amount", "currency")
        currency = self._check_currency(p["currency"])
        self._check_amount(p["amount"], currency)
        customer = self._customer_ref(p.get("customer"))
        automatic = p.get("automatic_payment_methods")
        types_param = next(
            (n for n in ("allowed_payment_method_types", "payment_method_types") if n in p), None
        )
        types = p.get(types_param) if types_param else None
        if automatic is not None and types is not None:
            raise ParamError(
                "You may only specify one of these parameters: automatic_payment_methods, "
                f"{types_param}.",
                param="automatic_payment_methods",
                code="parameters_exclusive",
            )
        if automatic is not None and automatic.get("enabled") is None:
            raise ParamError(
                "Missing required param: automatic_payment_methods[enabled].",
                param="automatic_payment_methods[enabled]",
                code="parameter_missing",
            )
        if automatic is None and types is None:
            automatic = {"enabled": True}
        confirm = bool(p.get("confirm"))
        if p.get("off_session") is not None and not confirm:
            raise ParamError(
                "You may only specify `off_session` when `confirm=true`.", param="off_session"
            )
        if confirm and not p.get("payment_method"):
            raise ParamError(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Specify a payment method with the `payment_method` parameter.",
                param="payment_method",
                code="payment_intent_unexpected_state",
            )
        pm = None
        if p.get("payment_method"):
            pm = self._resolve_payment_method(p["payment_method"], customer)
        pi_id = new_id("pi")
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "allowed_payment_method_types": p.get("allowed_payment_method_types"),
            "amount": p["amount"],
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": (
                None
                if automatic is None
                else {
                    "allow_redirects": automatic.get("allow_redirects") or "always",
                    "enabled": bool(automatic["enabled"]),
                }
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": p.get("capture_method") or "automatic_async",
            "client_secret": f"{pi_id}_secret_{new_id('x', 25)[2:]}",
            "confirmation_method": p.get("confirmation_method") or "automatic",
            "created": _now(),
            "currency": currency,
            "customer": customer,
            "customer_account": None,
            "description": p.get("description"),
            "excluded_payment_method_types": p.get("excluded_payment_method_types"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": p.get("metadata") or {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": pm["id"] if pm else None,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": [
                t
                for t in (types or ["card"])
                if t not in (p.get("excluded_payment_method_types") or [])
            ],
            "processing": None,
            "receipt_email": p.get("receipt_email"),
            "review": None,
            "setup_future_usage": p.get("setup_future_usage"),
            "shipping": p.get("shipping"),
            "source": None,
            "statement_descriptor": p.get("statement_descriptor"),
            "statement_descriptor_suffix": p.get("statement_descriptor_suffix"),
            "status": "requires_confirmation" if pm else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": p.get("transfer_group"),
        }
        self.payment_intents[pi_id] = pi
        self._emit("payment_intent.created", pi, ctx)
        if confirm:
            assert pm is not None
            self._attempt(
                pi,
                pm,
                off_session=bool(p.get("off_session")),
                error_on_requires_action=bool(p.get("error_on_requires_action")),
                ctx=ctx,
            )
        return self._answer(pi, p.get("expand"))

    def _op_payment_intents_retrieve(
        self, pi_id: str, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE_PI)
        pi = self._pi(pi_id)
        self._check_client_secret(pi, p, ctx)
        return self._answer(pi, p.get("expand"))

    def _op_payment_intents_update(
        self, pi_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, PI_UPDATE)
        pi = self._pi(pi_id)
        locked = pi["status"] not in PI_STATUSES_MUTABLE
        money_fields = (
            "amount",
            "currency",
            "customer",
            "payment_method",
            "payment_method_types",
            "allowed_payment_method_types",
            "excluded_payment_method_types",
            "setup_future_usage",
            "capture_method",
            "payment_method_options",
        )
        for field in money_fields:
            if field in p and locked:
                raise StripeError(
                    400,
                    f"This PaymentIntent's {field} could not be updated because it has a "
                    f"status of {pi['status']}. You may only update the {field} of a "
                    "PaymentIntent with one of the following statuses: "
                    + ", ".join(PI_STATUSES_MUTABLE)
                    + ".",
                    code="payment_intent_unexpected_state",
                    param=field,
                    extra={"payment_intent": copy.deepcopy(pi)},
                )
        currency = pi["currency"]
        if "currency" in p:
            require(p, "currency")
            currency = self._check_currency(p["currency"])
        if "amount" in p:
            require(p, "amount")
            self._check_amount(p["amount"], currency)
        elif "currency" in p:
            self._check_amount(pi["amount"], currency)
        customer = pi["customer"]
        if "customer" in p:
            if pi["customer"] is not None and p["customer"] != pi["customer"]:
                raise ParamError(
                    "You cannot change the customer of a PaymentIntent once it is set.",
                    param="customer",
                )
            customer = self._customer_ref(p["customer"])
        pm = None
        if p.get("payment_method"):
            pm = self._resolve_payment_method(p["payment_method"], customer)
        # Everything checked: apply.
        changed_payment = False
        if "amount" in p and p["amount"] != pi["amount"]:
            pi["amount"] = p["amount"]
            changed_payment = True
        if "currency" in p:
            changed_payment = changed_payment or currency != pi["currency"]
            pi["currency"] = currency
        pi["customer"] = customer
        if "payment_method" in p:
            pi["payment_method"] = pm["id"] if pm else None
            changed_payment = True
        for field in (
            "description",
            "receipt_email",
            "shipping",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "setup_future_usage",
            "transfer_group",
            "payment_method_types",
            "allowed_payment_method_types",
            "excluded_payment_method_types",
            "capture_method",
        ):
            if field in p:
                pi[field] = p[field]
        if "allowed_payment_method_types" in p:
            pi["payment_method_types"] = p["allowed_payment_method_types"] or ["card"]
        if "metadata" in p:
            if p["metadata"] is None:
                pi["metadata"] = {}
            else:
                for key, value in p["metadata"].items():
                    if value == "":
                        pi["metadata"].pop(key, None)
                    else:
                        pi["metadata"][key] = value
        if changed_payment and not locked:
            pi["next_action"] = None
            pi["status"] = (
                "requires_confirmation" if pi["payment_method"] else "requires_payment_method"
            )
        return self._answer(pi, p.get("expand"))

    def _op_payment_intents_confirm(
        self, pi_id: str, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, PI_CONFIRM)
        pi = self._pi(pi_id)
        self._check_client_secret(pi, p, ctx)
        if pi["status"] == "succeeded":
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it has already succeeded after "
                "being previously confirmed.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(pi)},
            )
        if pi["status"] not in PI_STATUSES_MUTABLE:
            raise StripeError(
                400,
                "This PaymentIntent's payment_method could not be updated because it has a "
                f"status of {pi['status']}. You may only update the payment_method of a "
                "PaymentIntent with one of the following statuses: "
                + ", ".join(PI_STATUSES_MUTABLE)
                + ".",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(pi)},
            )
        if p.get("payment_method"):
            pm = self._resolve_payment_method(p["payment_method"], pi["customer"])
        elif pi["payment_method"]:
            pm = self.payment_methods[pi["payment_method"]]
        else:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent, specify a payment method with the "
                "`payment_method` parameter.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(pi)},
            )
        if "setup_future_usage" in p:
            pi["setup_future_usage"] = p["setup_future_usage"]
        if p.get("receipt_email"):
            pi["receipt_email"] = p["receipt_email"]
        self._attempt(
            pi,
            pm,
            off_session=bool(p.get("off_session")),
            error_on_requires_action=bool(p.get("error_on_requires_action")),
            ctx=ctx,
        )
        return self._answer(pi, p.get("expand"))

    def _op_payment_intents_cancel(
        self, pi_id: str, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, PI_CANCEL)
        pi = self._pi(pi_id)
        if pi["status"] not in PI_STATUSES_CANCELABLE:
            raise StripeError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                "be canceled: " + ", ".join(PI_STATUSES_CANCELABLE) + ".",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(pi)},
            )
        pi.update(
            status="canceled",
            canceled_at=_now(),
            cancellation_reason=p.get("cancellation_reason"),
            next_action=None,
        )
        self._emit("payment_intent.canceled", pi, ctx)
        return self._answer(pi, p.get("expand"))

    # ----------------------------------------------------------- charging a card

    def _attempt(
        self,
        pi: dict[str, Any],
        pm: dict[str, Any],
        *,
        off_session: bool,
        error_on_requires_action: bool,
        ctx: Context,
    ) -> None:
        """Confirm pi with pm: succeed, ask for authentication, or decline (raises a 402)."""
        pi["payment_method"] = pm["id"]
        pi["last_payment_error"] = None
        pi["next_action"] = None
        card = self._card[pm["id"]]
        # "setup" cards: once saved for off-session use, no payment asks again (Stripe's
        # 4000002500003155: "no further authentication is needed").
        needs_auth = card.auth == "always" or (
            card.auth == "setup" and pm["id"] not in self._saved_off_session
        )
        if needs_auth and not (off_session or error_on_requires_action):
            pi["status"] = "requires_action"
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": f"{self.base_url}/standin/3ds/{pi['id']}",
                    "source": new_id("src"),
                },
            }
            self._emit("payment_intent.requires_action", pi, ctx)
            return
        if needs_auth:
            self._decline(pi, pm, AUTHENTICATION_REQUIRED, ctx)
        decline = self._override.get(pm["id"], card.decline)
        if decline is not None:
            self._decline(pi, pm, decline, ctx)
        self._succeed(pi, pm, ctx)

    def _new_charge(
        self, pi: dict[str, Any], pm: dict[str, Any], status: str, decline: Decline | None
    ) -> dict[str, Any]:
        card = pm["card"]
        succeeded = status != "failed"
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if succeeded else 0,
            "amount_refunded": 0,
            "balance_transaction": new_id("txn") if status == "succeeded" else None,
            "billing_details": pm["billing_details"],
            "captured": succeeded,
            "created": _now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_code": decline.code if decline else None,
            "failure_message": decline.message if decline else None,
            "livemode": False,
            "metadata": copy.deepcopy(pi["metadata"]),
            "outcome": {
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": decline.decline_code if decline else None,
                "risk_level": "normal",
                "seller_message": "Payment complete." if succeeded else "The bank declined.",
                "type": "authorized" if succeeded else "issuer_declined",
            },
            "paid": status == "succeeded",
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "brand": card["brand"],
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "funding": card["funding"],
                    "last4": card["last4"],
                    "network": card["brand"],
                },
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "refunded": False,
            "status": status,
        }
        self.charges[charge["id"]] = charge
        pi["latest_charge"] = charge["id"]
        return charge

    def _decline(
        self, pi: dict[str, Any], pm: dict[str, Any], decline: Decline, ctx: Context
    ) -> None:
        charge = self._new_charge(pi, pm, "failed", decline)
        error = {
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": "https://stripe.com/docs/error-codes/" + decline.code.replace("_", "-"),
            "message": decline.message,
            "payment_method": copy.deepcopy(pm),
            "type": "card_error",
        }
        pi.update(status="requires_payment_method", payment_method=None, last_payment_error=error)
        if pm["customer"] is None:
            self._consumed.add(pm["id"])
        self._emit("charge.failed", charge, ctx)
        self._emit("payment_intent.payment_failed", pi, ctx)
        raise card_error(
            decline.message,
            code=decline.code,
            decline_code=decline.decline_code,
            extra={
                "charge": charge["id"],
                "payment_intent": copy.deepcopy(pi),
                "payment_method": copy.deepcopy(pm),
            },
        )

    def _succeed(self, pi: dict[str, Any], pm: dict[str, Any], ctx: Context) -> None:
        if self._hold_confirms > 0:
            self._hold_confirms -= 1
            self._new_charge(pi, pm, "pending", None)
            pi["status"] = "processing"
            self._emit("payment_intent.processing", pi, ctx)
            return
        charge = self._new_charge(pi, pm, "succeeded", None)
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        self._save_payment_method(pi, pm, ctx)
        self._emit("charge.succeeded", charge, ctx)
        self._emit("payment_intent.succeeded", pi, ctx)

    def _save_payment_method(self, pi: dict[str, Any], pm: dict[str, Any], ctx: Context) -> None:
        """setup_future_usage + customer: attach the card to the customer, as Stripe does."""
        if pi["setup_future_usage"] and pi["customer"]:
            if pm["customer"] is None:
                pm["customer"] = pi["customer"]
                self._emit("payment_method.attached", pm, ctx)
            if pi["setup_future_usage"] == "off_session":
                self._saved_off_session.add(pm["id"])
        elif pm["customer"] is None:
            self._consumed.add(pm["id"])

    # ---------------------------------------------------------------------- charges

    def _op_charges_retrieve(
        self, ch_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE)
        if ch_id not in self.charges:
            raise not_found("charge", ch_id)
        return self._answer(self.charges[ch_id], p.get("expand"))

    # ---------------------------------------------------------------------- refunds

    def _op_refunds_create(
        self, _id: str | None, raw: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, REFUND_CREATE)
        if p.get("charge") is None and p.get("payment_intent") is None:
            raise ParamError(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                param="charge",
                code="parameter_missing",
            )
        if p.get("amount") is not None and p["amount"] < 1:
            raise ParamError(
                "Invalid positive integer", param="amount", code="parameter_invalid_integer"
            )
        if p.get("charge") is not None:
            if p["charge"] not in self.charges:
                raise not_found("charge", p["charge"], param="charge", status=400)
            charge = self.charges[p["charge"]]
            if p.get("payment_intent") not in (None, charge["payment_intent"]):
                raise StripeError(
                    400,
                    f"The charge {charge['id']} does not belong to PaymentIntent "
                    f"{p['payment_intent']}.",
                    param="payment_intent",
                )
        else:
            pi_id = p["payment_intent"]
            if pi_id not in self.payment_intents:
                raise not_found("payment_intent", pi_id, param="payment_intent", status=400)
            pi = self.payment_intents[pi_id]
            latest = self.charges.get(pi["latest_charge"] or "")
            if pi["status"] != "succeeded" or latest is None:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = latest
        if charge["status"] != "succeeded":
            raise StripeError(
                400,
                f"Charge {charge['id']} has not succeeded, so it cannot be refunded.",
                param="charge",
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = p.get("amount") if p.get("amount") is not None else remaining
        assert amount is not None
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({amount} {charge['currency']}) is greater than unrefunded "
                f"amount on charge ({remaining} {charge['currency']})",
                param="amount",
                code="amount_too_large",
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge["id"],
            "created": _now(),
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": p.get("metadata") or {},
            "payment_intent": charge["payment_intent"],
            "reason": p.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "pending" if self._take_refund_hold() else "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("refund.created", refund, ctx)
        self._emit("charge.refunded", charge, ctx)
        return self._answer(refund, p.get("expand"))

    def _take_refund_hold(self) -> bool:
        """Whether this refund is one of those hold_next_refunds asked to stay pending."""
        if self._hold_refunds > 0:
            self._hold_refunds -= 1
            return True
        return False

    def _page(self, items: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
        """A list object as Stripe answers it: newest first, `limit` items after a cursor."""
        newest_first = sorted(items, key=lambda o: o["created"], reverse=True)
        ids = [o["id"] for o in newest_first]
        start = ids.index(p["starting_after"]) + 1 if p.get("starting_after") in ids else 0
        limit = max(1, min(int(p.get("limit") or 10), 100))
        page = newest_first[start : start + limit]
        return {
            "object": "list",
            "data": [self._answer(o, p.get("expand")) for o in page],
            "has_more": start + limit < len(ids),
            "url": url,
        }

    def _op_refunds_list(
        self, _id: str | None, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, REFUND_LIST)
        items = [
            r
            for r in self.refunds.values()
            if p.get("payment_intent") in (None, r["payment_intent"])
            and p.get("charge") in (None, r["charge"])
        ]
        return self._page(items, p, "/v1/refunds")

    def _op_payment_intents_list(
        self, _id: str | None, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, PI_LIST)
        items = [
            pi
            for pi in self.payment_intents.values()
            if p.get("customer") in (None, pi["customer"])
        ]
        return self._page(items, p, "/v1/payment_intents")

    def _op_refunds_retrieve(
        self, re_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE)
        if re_id not in self.refunds:
            raise not_found("refund", re_id)
        return self._answer(self.refunds[re_id], p.get("expand"))

    # ------------------------------------------------- what a browser or bank does

    def complete_action(self, pi_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """The buyer passes (or fails) 3-D Secure for a PaymentIntent in requires_action."""
        ctx = Context()
        try:
            with self.lock:
                pi = self.payment_intents[pi_id]
                if pi["status"] != "requires_action":
                    raise ValueError(f"{pi_id} is {pi['status']}, not requires_action")
                pm = self.payment_methods[pi["payment_method"]]
                pi["next_action"] = None
                if succeed:
                    decline = self._override.get(pm["id"], self._card[pm["id"]].decline)
                    if decline is not None:
                        with contextlib.suppress(StripeError):  # recorded, nobody to answer
                            self._decline(pi, pm, decline, ctx)
                    else:
                        self._succeed(pi, pm, ctx)
                else:
                    pi.update(
                        status="requires_payment_method",
                        payment_method=None,
                        last_payment_error={
                            "code": "payment_intent_authentication_failure",
                            "doc_url": "https://stripe.com/docs/error-codes/"
                            "payment-intent-authentication-failure",
                            "message": "The provided PaymentMethod has failed authentication. "
                            "You can provide payment_method_data or a new PaymentMethod to "
                            "attempt to fulfill this PaymentIntent again.",
                            "payment_method": copy.deepcopy(pm),
                            "type": "invalid_request_error",
                        },
                    )
                    self._emit("payment_intent.payment_failed", pi, ctx)
                return copy.deepcopy(pi)
        finally:
            self.flush_events()

    def hold_next_confirms(self, n: int = 1) -> None:
        """The next n payments that would succeed stay `processing` until finish_processing."""
        with self.lock:
            self._hold_confirms += n

    def finish_processing(self, pi_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """Settle a `processing` PaymentIntent: paid, or failed (requires_payment_method)."""
        ctx = Context()
        try:
            with self.lock:
                pi = self.payment_intents[pi_id]
                if pi["status"] != "processing":
                    raise ValueError(f"{pi_id} is {pi['status']}, not processing")
                charge = self.charges[pi["latest_charge"]]
                pm = self.payment_methods[pi["payment_method"]]
                if succeed:
                    charge.update(status="succeeded", paid=True, balance_transaction=new_id("txn"))
                    pi.update(status="succeeded", amount_received=pi["amount"])
                    self._save_payment_method(pi, pm, ctx)
                    self._emit("charge.succeeded", charge, ctx)
                    self._emit("payment_intent.succeeded", pi, ctx)
                else:
                    decline = Decline("card_declined", "generic_decline", "Your card was declined.")
                    charge.update(
                        status="failed",
                        captured=False,
                        amount_captured=0,
                        failure_code=decline.code,
                        failure_message=decline.message,
                    )
                    pi.update(
                        status="requires_payment_method",
                        payment_method=None,
                        last_payment_error={
                            "charge": charge["id"],
                            "code": decline.code,
                            "decline_code": decline.decline_code,
                            "message": decline.message,
                            "payment_method": copy.deepcopy(pm),
                            "type": "card_error",
                        },
                    )
                    self._emit("charge.failed", charge, ctx)
                    self._emit("payment_intent.payment_failed", pi, ctx)
                return copy.deepcopy(pi)
        finally:
            self.flush_events()

    def hold_next_refunds(self, n: int = 1) -> None:
        """The next n refunds are created `pending` until finish_refund (as a bank may)."""
        with self.lock:
            self._hold_refunds += n

    def finish_refund(
        self, re_id: str, *, succeed: bool = True, reason: str = "expired_or_canceled_card"
    ) -> dict[str, Any]:
        """A pending refund succeeds or fails; a succeeded one can still fail later, as at Stripe.

        A failed refund gives its amount back to the charge and sends `refund.failed`.
        """
        ctx = Context()
        try:
            with self.lock:
                refund = self.refunds[re_id]
                if refund["status"] not in ("pending", "succeeded") or (
                    succeed and refund["status"] != "pending"
                ):
                    raise ValueError(f"{re_id} is {refund['status']}")
                if succeed:
                    refund["status"] = "succeeded"
                else:
                    charge = self.charges[refund["charge"]]
                    charge["amount_refunded"] -= refund["amount"]
                    charge["refunded"] = False
                    refund.update(status="failed", failure_reason=reason)
                    self._emit("refund.failed", refund, ctx)
                self._emit("refund.updated", refund, ctx)
                self._emit("charge.refund.updated", refund, ctx)
                return copy.deepcopy(refund)
        finally:
            self.flush_events()

    def decline_future_charges(
        self,
        pm_id: str,
        *,
        code: str = "card_declined",
        decline_code: str = "generic_decline",
        message: str = "Your card was declined.",
    ) -> None:
        """From now on, charges on this (saved) PaymentMethod decline."""
        with self.lock:
            if pm_id not in self.payment_methods:
                raise KeyError(pm_id)
            self._override[pm_id] = Decline(code, decline_code, message)

    # --------------------------------------------------- what a card holder's bank does

    def _op_disputes_retrieve(
        self, dp_id: str, raw: dict[str, Any], _ctx: Context
    ) -> dict[str, Any]:
        p = validate(raw, RETRIEVE)
        if dp_id not in self.disputes:
            raise not_found("dispute", dp_id)
        return self._answer(self.disputes[dp_id], p.get("expand"))

    def create_dispute(
        self,
        charge_or_payment_intent: str,
        *,
        amount: int | None = None,
        reason: str = "fraudulent",
        status: str = "needs_response",
    ) -> dict[str, Any]:
        """The card holder disputes a succeeded charge (or a PaymentIntent's latest charge):
        a Dispute `dp_...` and `charge.dispute.created`, as Stripe records them."""
        ctx = Context()
        try:
            with self.lock:
                charge_id = charge_or_payment_intent
                if charge_id in self.payment_intents:
                    charge_id = self.payment_intents[charge_id]["latest_charge"] or ""
                charge = self.charges[charge_id]
                if charge["status"] != "succeeded":
                    raise ValueError(f"{charge_id} is {charge['status']}: nothing to dispute")
                now = _now()
                dispute = {
                    "id": new_id("dp"),
                    "object": "dispute",
                    "amount": charge["amount_captured"] if amount is None else amount,
                    "balance_transactions": [],
                    "charge": charge_id,
                    "created": now,
                    "currency": charge["currency"],
                    "evidence": {},
                    "evidence_details": {
                        "due_by": now + 7 * 86400,
                        "has_evidence": False,
                        "past_due": False,
                        "submission_count": 0,
                    },
                    "is_charge_refundable": False,
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": charge["payment_intent"],
                    "reason": reason,
                    "status": status,
                }
                self.disputes[dispute["id"]] = dispute
                charge["disputed"] = True
                self._emit("charge.dispute.created", dispute, ctx)
                return copy.deepcopy(dispute)
        finally:
            self.flush_events()

    def update_dispute(self, dp_id: str, *, status: str) -> dict[str, Any]:
        """An open dispute moves on (e.g. `under_review` once evidence is in):
        `charge.dispute.updated`."""
        ctx = Context()
        try:
            with self.lock:
                dispute = self.disputes[dp_id]
                if dispute["status"] in DISPUTE_CLOSED:
                    raise ValueError(f"{dp_id} is closed ({dispute['status']})")
                dispute["status"] = status
                self._emit("charge.dispute.updated", dispute, ctx)
                return copy.deepcopy(dispute)
        finally:
            self.flush_events()

    def close_dispute(self, dp_id: str, *, won: bool) -> dict[str, Any]:
        """The bank decides: `won` or `lost`, and `charge.dispute.closed`."""
        ctx = Context()
        try:
            with self.lock:
                dispute = self.disputes[dp_id]
                if dispute["status"] in DISPUTE_CLOSED:
                    raise ValueError(f"{dp_id} is closed ({dispute['status']})")
                dispute["status"] = "won" if won else "lost"
                self._emit("charge.dispute.closed", dispute, ctx)
                return copy.deepcopy(dispute)
        finally:
            self.flush_events()
