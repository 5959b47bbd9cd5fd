"""Every call we make to Stripe, through the official client, each money move idempotent.

The API base comes from settings (a local stand-in in tests). Calls that create or move money
carry an idempotency key derived from our own ids, so a retried task can never charge or
refund twice. Failures come out as RemoteErrors: declines and other 4xx final, network
errors, 5xx, 429 and Stripe's 409 "request in progress" retryable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import stripe

from domain.shared.db import utcnow
from domain.shared.errors import AppError, ServiceUnavailable
from domain.shared.remote import FinalRemoteError, RemoteError, RetryableRemoteError
from domain.shared.settings import Settings, get_settings, webhook_secret_usable

T = TypeVar("T")


class CardDeclined(FinalRemoteError):
    """The card was declined: final, the buyer must try another card."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        decline_code: str | None,
        payment_intent: str | None = None,
    ) -> None:
        super().__init__(message, status=402)
        self.code = code
        self.decline_code = decline_code
        # The PaymentIntent the declined confirmation left behind (off-session charges).
        self.payment_intent = payment_intent


class AuthenticationRequired(CardDeclined):
    """An off-session charge needs the buyer to authenticate (3-D Secure): not retryable."""


@dataclass(frozen=True)
class Intent:
    """What we keep of a PaymentIntent."""

    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    client_secret: str | None
    customer: str | None
    payment_method: str | None
    latest_charge: str | None
    failure_code: str | None
    metadata: dict[str, str]

    @classmethod
    def of(cls, pi: Any) -> Intent:
        """From the Stripe object."""
        pi = pi.to_dict()
        error = pi.get("last_payment_error") or {}
        return cls(
            id=pi["id"],
            status=pi["status"],
            amount=pi["amount"],
            amount_received=pi.get("amount_received") or 0,
            currency=str(pi["currency"]).upper(),
            client_secret=pi.get("client_secret"),
            customer=_id_of(pi.get("customer")),
            payment_method=_id_of(pi.get("payment_method")),
            latest_charge=_id_of(pi.get("latest_charge")),
            failure_code=error.get("decline_code") or error.get("code"),
            metadata=dict(pi.get("metadata") or {}),
        )


@dataclass(frozen=True)
class RefundState:
    """What we keep of a Stripe refund."""

    id: str
    status: str  # pending, requires_action, succeeded, failed, canceled
    amount: int
    failure_reason: str | None
    metadata: dict[str, str]

    @classmethod
    def of(cls, refund: Any) -> RefundState:
        """From the Stripe object."""
        r = refund.to_dict()
        return cls(
            id=r["id"],
            status=r["status"],
            amount=r["amount"],
            failure_reason=r.get("failure_reason"),
            metadata=dict(r.get("metadata") or {}),
        )


def _id_of(value: Any) -> str | None:
    """An id field that may come expanded (an object) or as a plain id."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


def _translate(exc: stripe.StripeError) -> RemoteError:
    """The RemoteError a Stripe failure means."""
    status = exc.http_status
    message = f"stripe: {exc.user_message or exc}"
    if isinstance(exc, stripe.CardError):
        code = exc.code or "card_declined"
        error = exc.error
        decline_code = getattr(error, "decline_code", None) if error else None
        intent = getattr(error, "payment_intent", None) if error else None
        kind = AuthenticationRequired if code == "authentication_required" else CardDeclined
        return kind(message, code=code, decline_code=decline_code, payment_intent=_id_of(intent))
    if isinstance(exc, stripe.APIConnectionError):
        return RetryableRemoteError(message)
    if isinstance(exc, stripe.RateLimitError) or status is None or status >= 500:
        return RetryableRemoteError(message, status=status)
    if status == 409 and not isinstance(exc, stripe.IdempotencyError):
        # Another request with the same idempotency key is still running at Stripe.
        return RetryableRemoteError(message, status=status)
    return FinalRemoteError(message, status=status)


class StripeGateway:
    """The part of the Stripe API the orders module uses."""

    def __init__(self, settings: Settings) -> None:
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self._client = stripe.StripeClient(
            settings.stripe_api_key,
            base_addresses=base,  # type: ignore[arg-type]
            # Our retries (tenacity in requests, job backoff in workers) decide when to retry.
            max_network_retries=0,
            http_client=stripe.HTTPXClient(
                timeout=settings.stripe_timeout_seconds, allow_sync_methods=True
            ),
        )

    @staticmethod
    def _call(fn: Any, *args: str, params: dict[str, Any], key: str | None = None) -> Any:
        """fn(*args, params, options) with our idempotency key; Stripe errors translated."""
        options: dict[str, Any] = {"idempotency_key": key} if key else {}
        try:
            return fn(*args, params=params, options=options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def create_customer(self, *, email: str | None, name: str | None, key: str) -> str:
        """A Stripe customer for a buyer (so a saved card can be charged again)."""
        params: dict[str, Any] = {"email": email} if email else {}
        if name:
            params["name"] = name
        return str(self._call(self._client.v1.customers.create, params=params, key=key)["id"])

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        metadata: dict[str, str],
        key: str,
    ) -> Intent:
        """A PaymentIntent the buyer confirms, saving the card for one-click upsells."""
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "setup_future_usage": "off_session",
            # Card-like methods only: a one-click upsell cannot follow a redirect.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": metadata,
        }
        return Intent.of(self._call(self._client.v1.payment_intents.create, params=params, key=key))

    def update_amount(
        self, *, payment_intent: str, amount: int, metadata: dict[str, str], key: str
    ) -> Intent:
        """Change an unconfirmed PaymentIntent's amount (bumps); Stripe refuses once confirmed."""
        update = self._client.v1.payment_intents.update
        params = {"amount": amount, "metadata": metadata}
        return Intent.of(self._call(update, payment_intent, params=params, key=key))

    def retrieve(self, payment_intent: str) -> Intent:
        """A PaymentIntent as Stripe has it now."""
        retrieve = self._client.v1.payment_intents.retrieve
        return Intent.of(self._call(retrieve, payment_intent, params={}))

    def cancel(self, *, payment_intent: str, key: str) -> Intent:
        """Cancel an unconfirmed PaymentIntent."""
        cancel = self._client.v1.payment_intents.cancel
        return Intent.of(self._call(cancel, payment_intent, params={}, key=key))

    def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: dict[str, str],
        key: str,
    ) -> Intent:
        """Charge a saved card without the buyer (a one-click upsell)."""
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": metadata,
        }
        return Intent.of(self._call(self._client.v1.payment_intents.create, params=params, key=key))

    def find_payment_intent(self, *, customer: str, metadata_key: str, value: str) -> Intent | None:
        """The customer's PaymentIntent whose metadata names our id, if Stripe has one.

        A list, not the Search API: search is eventually consistent, the list is not.
        """
        listing = self._call(
            self._client.v1.payment_intents.list, params={"customer": customer, "limit": 100}
        )
        for pi in self._each(listing):
            if Intent.of(pi).metadata.get(metadata_key) == value:
                return Intent.of(pi)
        return None

    def refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        key: str,
        metadata: dict[str, str] | None = None,
    ) -> RefundState:
        """Refund part or all of a PaymentIntent's charge; Stripe's first answer about it."""
        params = {"payment_intent": payment_intent, "amount": amount, "metadata": metadata or {}}
        return RefundState.of(self._call(self._client.v1.refunds.create, params=params, key=key))

    def retrieve_refund(self, refund: str) -> RefundState:
        """A refund as Stripe has it now."""
        return RefundState.of(self._call(self._client.v1.refunds.retrieve, refund, params={}))

    def find_refund(
        self, *, payment_intent: str, metadata_key: str, value: str
    ) -> RefundState | None:
        """The PaymentIntent's refund whose metadata names our id, if Stripe has one."""
        listing = self._call(
            self._client.v1.refunds.list, params={"payment_intent": payment_intent, "limit": 100}
        )
        for refund in self._each(listing):
            if RefundState.of(refund).metadata.get(metadata_key) == value:
                return RefundState.of(refund)
        return None

    @staticmethod
    def _each(listing: Any) -> Any:
        """Every item of a list answer, fetching further pages (errors translated)."""
        try:
            yield from listing.auto_paging_iter()
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def parse_event(self, payload: bytes, signature: str | None, secret: str) -> Any:
        """A webhook event whose signature checks out and is fresh; 400 if not.

        A placeholder secret is public (it is in .env.example): nothing signed with it counts.
        """
        if not webhook_secret_usable(secret):
            raise ServiceUnavailable(
                "Payments are not configured: set STRIPE_WEBHOOK_SECRET",
                code="payments_not_configured",
            )
        try:
            return stripe.Webhook.construct_event(payload, signature or "", secret)
        except stripe.SignatureVerificationError as exc:
            raise AppError("The Stripe signature does not match", code="invalid_signature") from exc
        except (ValueError, RecursionError) as exc:  # a signed but absurdly nested payload
            raise AppError("The event is not valid JSON", code="invalid_payload") from exc


def past_key_window(first_tried_at: datetime | None) -> bool:
    """Whether Stripe may have forgotten an idempotency key first sent at first_tried_at.

    Stripe keeps keys for at least 24 hours; STRIPE_KEY_WINDOW_HOURS leaves a margin.
    """
    if first_tried_at is None:
        return False
    window = timedelta(hours=get_settings().stripe_key_window_hours)
    return utcnow() - first_tried_at >= window


@lru_cache(maxsize=1)
def gateway() -> StripeGateway:
    """The process-wide gateway built from settings (gateway.cache_clear() re-reads them)."""
    return StripeGateway(get_settings())
