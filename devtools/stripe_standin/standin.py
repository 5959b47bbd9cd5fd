"""StripeStandin: the server the tests start, and what they inspect and inject through it."""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import Iterator
from typing import Any

import stripe

from devtools.stripe_standin.app import FaultRule, RequestRecord, StripeApp
from devtools.stripe_standin.ledger import Ledger
from devtools.stripe_standin.webhooks import Deliverer, Delivery, post_event, sign
from devtools.threaded_uvicorn import ThreadedUvicorn

__all__ = ["DEFAULT_API_KEY", "StripeStandin"]

DEFAULT_API_KEY = "sk_test_standin_0000000000000000"


class StripeStandin:
    """A local Stripe API (the part the orders module calls) on 127.0.0.1.

    >>> standin = StripeStandin()
    >>> base_url = standin.start()
    >>> client = stripe.StripeClient("sk_test_x", base_addresses={"api": base_url})
    >>> standin.stop()
    """

    def __init__(
        self,
        *,
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        key_in_use: str = "conflict",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_threads: int = 1,
    ) -> None:
        """Configure; nothing listens until start().

        key_in_use: "conflict" answers a request whose Idempotency-Key is still executing
        with Stripe's 409 `idempotency_key_in_use`; "wait" makes it wait and replay.
        webhook_url: when set, every event is also POSTed there, signed, in order (with
        webhook_threads > 1: concurrently, in no set order, as Stripe delivers).
        """
        self.webhook_secret = webhook_secret or "whsec_" + secrets.token_hex(16)
        self.webhook_url = webhook_url
        self.webhook_types: set[str] | None = None  # None: deliver every type
        self.host = host
        self.port = port
        self.base_url = ""
        self.ledger = Ledger(on_event=self._on_event)
        self.app = StripeApp(self.ledger)
        self.key_in_use = key_in_use
        self.webhook_threads = webhook_threads
        self._deliverer: Deliverer | None = None
        self._http = ThreadedUvicorn(
            self.app.asgi, host=self.host, port=self.port, name="stripe-standin"
        )

    # ------------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Listen on a free port (bound here, so no race for it); return the base URL."""
        if self._http.running:
            return self.base_url
        self._deliverer = Deliverer(self._deliver_now, self.webhook_threads)
        self.port = self._http.start(
            backlog=1024, timeout_graceful_shutdown=2, timeout_keep_alive=30
        )
        self.base_url = f"http://{self.host}:{self.port}"
        self.ledger.base_url = self.base_url
        return self.base_url

    def stop(self) -> None:
        """Stop serving and delivering; state stays readable."""
        self._http.stop()
        if self._deliverer is not None:
            self._deliverer.stop()
        self._deliverer = None

    def __enter__(self) -> StripeStandin:
        """start() on entry."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """stop() on exit."""
        self.stop()

    def reset(self) -> None:
        """Forget all objects, events, requests, saved idempotent answers and faults."""
        self.ledger.reset()
        self.app.reset()
        if self._deliverer is not None:
            self._deliverer.clear()

    # ------------------------------------------------------------------ clients

    def client(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        max_network_retries: int = 0,
        timeout: float = 10.0,
    ) -> stripe.StripeClient:
        """The official client pointed here (requests transport, given timeout, retries)."""
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": self.base_url},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def confirm_as_browser(self, pi_id: str, card: str = "pm_card_visa") -> None:
        """What Stripe.js does on a checkout page: confirm with the buyer's card.

        A decline raises in the browser; the PaymentIntent records it, and the server reads
        it from there, so it is swallowed here.
        """
        with contextlib.suppress(stripe.CardError):
            self.client().v1.payment_intents.confirm(pi_id, params={"payment_method": card})

    @contextlib.contextmanager
    def module_configured(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        max_network_retries: int = 0,
        timeout: float = 10.0,
    ) -> Iterator[None]:
        """Point the module-level API (`stripe.PaymentIntent.create`, ...) here, then restore."""
        saved = (
            stripe.api_key,
            stripe.api_base,
            stripe.max_network_retries,
            stripe.default_http_client,
        )
        stripe.api_key = api_key
        stripe.api_base = self.base_url
        stripe.max_network_retries = max_network_retries
        stripe.default_http_client = stripe.RequestsClient(timeout=timeout)
        try:
            yield
        finally:
            (
                stripe.api_key,
                stripe.api_base,
                stripe.max_network_retries,
                stripe.default_http_client,
            ) = saved

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        op: str | None = None,
        error_type: str = "api_error",
        code: str | None = None,
        message: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next n matching requests with a Stripe-shaped error, executing nothing.

        Filters: method ("POST"), path prefix ("/v1/refunds"), op ("payment_intents.create").
        should_retry sets Stripe's `Stripe-Should-Retry` header, which the client obeys.
        """
        self.app.add_fault(
            FaultRule(
                "fail",
                n,
                status=status,
                method=method,
                path=path,
                op=op,
                error_type=error_type,
                code=code,
                message=message,
                should_retry=should_retry,
            )
        )

    def fail_after_commit_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        op: str | None = None,
    ) -> None:
        """The next n matching requests do their work (and save it under their key), then
        answer a 500: the caller cannot know it happened until it retries or re-reads."""
        self.app.add_fault(
            FaultRule(
                "fail_after_commit",
                n,
                status=status,
                method=method,
                path=path,
                op=op,
            )
        )

    def delay_next(
        self,
        n: int,
        seconds: float,
        *,
        when: str = "during",
        method: str | None = None,
        path: str | None = None,
        op: str | None = None,
    ) -> None:
        """Slow down the next n matching requests (to provoke client timeouts).

        when="before": before Stripe sees it; "during": holding its idempotency key, then
        doing the work; "after": after doing the work, before answering.
        """
        if when not in ("before", "during", "after"):
            raise ValueError(f"when must be before, during or after, not {when!r}")
        self.app.add_fault(
            FaultRule(
                "delay",
                n,
                seconds=seconds,
                when=when,
                method=method,
                path=path,
                op=op,
            )
        )

    def clear_faults(self) -> None:
        """Drop every fault not yet used."""
        with self.app.lock:
            self.app.faults.clear()

    @property
    def key_in_use(self) -> str:
        """ "conflict" (Stripe's 409) or "wait" for a request whose key is still executing."""
        return self.app.key_in_use

    @key_in_use.setter
    def key_in_use(self, value: str) -> None:
        if value not in ("conflict", "wait"):
            raise ValueError(value)
        self.app.key_in_use = value

    # ------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first."""
        with self.app.lock:
            return list(self.app.records)

    def count(self, op: str) -> int:
        """How many times an operation executed ("payment_intents.create", "refunds.create",
        ...): replays, injected failures and parameter errors do not count."""
        with self.ledger.lock:
            return self.ledger.counts[op]

    def _get(self, store: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
        with self.ledger.lock:
            return copy.deepcopy(store[object_id])

    def payment_intent(self, pi_id: str) -> dict[str, Any]:
        """The PaymentIntent as it is now (KeyError if unknown)."""
        return self._get(self.ledger.payment_intents, pi_id)

    def charge(self, ch_id: str) -> dict[str, Any]:
        """The Charge as it is now."""
        return self._get(self.ledger.charges, ch_id)

    def customer(self, cus_id: str) -> dict[str, Any]:
        """The Customer as it is now."""
        return self._get(self.ledger.customers, cus_id)

    def refund(self, re_id: str) -> dict[str, Any]:
        """The Refund."""
        return self._get(self.ledger.refunds, re_id)

    def payment_method(self, pm_id: str) -> dict[str, Any]:
        """The PaymentMethod (its `customer` says whether it is saved)."""
        return self._get(self.ledger.payment_methods, pm_id)

    def payment_intents(self, *, customer: str | None = None) -> list[dict[str, Any]]:
        """All PaymentIntents (of one customer), oldest first."""
        with self.ledger.lock:
            return [
                copy.deepcopy(pi)
                for pi in self.ledger.payment_intents.values()
                if customer is None or pi["customer"] == customer
            ]

    def charges_for(
        self, payment_intent_id: str, *, include_failed: bool = False
    ) -> list[dict[str, Any]]:
        """The charges of a PaymentIntent that took money (with include_failed: all)."""
        with self.ledger.lock:
            return [
                copy.deepcopy(ch)
                for ch in self.ledger.charges.values()
                if ch["payment_intent"] == payment_intent_id
                and (include_failed or ch["status"] == "succeeded")
            ]

    def refunds_for(self, charge_id: str) -> list[dict[str, Any]]:
        """The refunds of a charge."""
        with self.ledger.lock:
            return [
                copy.deepcopy(r) for r in self.ledger.refunds.values() if r["charge"] == charge_id
            ]

    def captured_for_customer(self, customer_id: str) -> int:
        """Total captured from a customer by successful charges (before refunds)."""
        with self.ledger.lock:
            return sum(
                ch["amount_captured"]
                for ch in self.ledger.charges.values()
                if ch["customer"] == customer_id and ch["status"] == "succeeded"
            )

    def refunded_for_customer(self, customer_id: str) -> int:
        """Total refunded to a customer."""
        with self.ledger.lock:
            return sum(
                ch["amount_refunded"]
                for ch in self.ledger.charges.values()
                if ch["customer"] == customer_id
            )

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event recorded so far, oldest first."""
        with self.ledger.lock:
            return copy.deepcopy(self.ledger.events)

    def events_of(self, type_: str, object_id: str | None = None) -> list[dict[str, Any]]:
        """The recorded events of one type (about one object)."""
        return [
            e
            for e in self.events
            if e["type"] == type_ and (object_id is None or e["data"]["object"]["id"] == object_id)
        ]

    # ----------------------------------------- what the buyer's bank or browser does

    def complete_action(self, pi_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """The buyer passes (or fails) 3-D Secure on a PaymentIntent in requires_action."""
        return self.ledger.complete_action(pi_id, succeed=succeed)

    def hold_next_confirms(self, n: int = 1) -> None:
        """The next n payments that would succeed stay `processing` (see finish_processing)."""
        self.ledger.hold_next_confirms(n)

    def finish_processing(self, pi_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """Settle a `processing` PaymentIntent."""
        return self.ledger.finish_processing(pi_id, succeed=succeed)

    def hold_next_refunds(self, n: int = 1) -> None:
        """The next n refunds are created `pending` (see finish_refund)."""
        self.ledger.hold_next_refunds(n)

    def finish_refund(
        self, re_id: str, *, succeed: bool = True, reason: str = ""
    ) -> dict[str, Any]:
        """A pending refund succeeds or fails; a succeeded one fails (`refund.failed`)."""
        return self.ledger.finish_refund(
            re_id, succeed=succeed, reason=reason or "expired_or_canceled_card"
        )

    def forget_idempotency_keys(self) -> None:
        """Forget every idempotency key, as Stripe does after 24 hours."""
        self.app.forget_idempotency_keys()

    def decline_future_charges(self, pm_id: str, **decline: str) -> None:
        """Charges on this PaymentMethod decline from now on (code, decline_code, message)."""
        self.ledger.decline_future_charges(pm_id, **decline)

    def create_dispute(
        self,
        charge_or_payment_intent: str,
        *,
        amount: int | None = None,
        reason: str = "fraudulent",
        status: str = "needs_response",
    ) -> dict[str, Any]:
        """The card holder disputes a charge (or a PaymentIntent's latest charge); the
        signed `charge.dispute.created` goes to webhook_url like every event."""
        return self.ledger.create_dispute(
            charge_or_payment_intent, amount=amount, reason=reason, status=status
        )

    def update_dispute(self, dp_id: str, *, status: str) -> dict[str, Any]:
        """An open dispute changes status: `charge.dispute.updated`."""
        return self.ledger.update_dispute(dp_id, status=status)

    def close_dispute(self, dp_id: str, *, won: bool) -> dict[str, Any]:
        """The dispute ends `won` or `lost`: `charge.dispute.closed`."""
        return self.ledger.close_dispute(dp_id, won=won)

    def dispute(self, dp_id: str) -> dict[str, Any]:
        """The Dispute as it is now."""
        return self._get(self.ledger.disputes, dp_id)

    # ------------------------------------------------------------------ webhooks

    def sign(
        self, payload: str | bytes, timestamp: int | None = None, *, secret: str | None = None
    ) -> str:
        """A Stripe-Signature header for payload (now, or at a given Unix time)."""
        return sign(payload, secret or self.webhook_secret, timestamp)

    def make_event(self, type_: str, obj: dict[str, Any] | str) -> dict[str, Any]:
        """Record (not send) an event about obj: a dict, or the id of a stand-in object."""
        if isinstance(obj, str):
            with self.ledger.lock:
                found = self.ledger.find(obj)
                if found is None:
                    raise KeyError(obj)
                obj = copy.deepcopy(found)
        return self.ledger.make_event(type_, obj)

    def send_event(
        self,
        url: str,
        type_: str,
        obj: dict[str, Any] | str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Delivery:
        """Record an event about obj (a dict or an object id) and POST it, signed, now."""
        return self.deliver(self.make_event(type_, obj), url, timestamp=timestamp, secret=secret)

    def deliver(
        self,
        event: dict[str, Any] | str,
        url: str | None = None,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        payload: str | None = None,
    ) -> Delivery:
        """POST an event (again, or out of order), signed, and wait for the answer.

        event: an event dict or id; url: default webhook_url; timestamp: sign as of then
        (an old one is refused by construct_event); payload: post this body instead of the
        signed one (a tampered event).
        """
        if isinstance(event, str):
            found = [e for e in self.events if e["id"] == event]
            if not found:
                raise KeyError(event)
            event = found[0]
        target = url or self.webhook_url
        if target is None:
            raise ValueError("no url given and no webhook_url set")
        delivery = post_event(
            target, event, secret or self.webhook_secret, timestamp=timestamp, payload=payload
        )
        if self._deliverer is not None:
            self._deliverer.record(delivery)
        return delivery

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook POST made so far (automatic and by deliver/send_event)."""
        return self._deliverer.snapshot() if self._deliverer is not None else []

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until every automatic delivery queued so far was posted."""
        return self._deliverer.wait(timeout) if self._deliverer is not None else True

    def _on_event(self, event: dict[str, Any]) -> None:
        url = self.webhook_url
        if (
            url
            and self._deliverer is not None
            and (self.webhook_types is None or event["type"] in self.webhook_types)
        ):
            self._deliverer.submit(event, url)

    def _deliver_now(self, event: dict[str, Any], url: str) -> Delivery:
        return post_event(url, event, self.webhook_secret)
