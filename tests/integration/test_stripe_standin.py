"""The Stripe stand-in, driven through the official `stripe` client as the orders module will.

Everything goes over HTTP through `stripe.StripeClient` (or the module-level API); the
stand-in's own helpers are used only to inspect what happened and to inject faults.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
from stripe import _http_client

from devtools.stripe_standin import StripeStandin
from devtools.stripe_standin.errors import ParamError
from devtools.stripe_standin.forms import parse_form


@pytest.fixture(scope="module")
def server() -> Iterator[StripeStandin]:
    """One stand-in for the module; each test starts from a clean one (see `standin`)."""
    with StripeStandin() as standin:
        yield standin


@pytest.fixture
def standin(server: StripeStandin, monkeypatch: pytest.MonkeyPatch) -> StripeStandin:
    """The stand-in, emptied; the client's retry back-off shortened so retries are quick."""
    server.reset()
    server.webhook_url = None
    server.webhook_types = None
    server.key_in_use = "conflict"
    monkeypatch.setattr(_http_client.HTTPClient, "INITIAL_DELAY", 0.02)
    monkeypatch.setattr(_http_client.HTTPClient, "MAX_DELAY", 0.1)
    return server


@pytest.fixture
def client(standin: StripeStandin) -> stripe.StripeClient:
    """The official client, no retries."""
    return standin.client()


def _key() -> str:
    return f"test-{uuid.uuid4()}"


def _id(value: object) -> str:
    """An id field (the types allow an expanded object or None)."""
    assert isinstance(value, str), value
    return value


def _paid_intent(client: stripe.StripeClient, amount: int = 1000, **extra: Any) -> Any:
    params: Any = {
        "amount": amount,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        **extra,
    }
    return client.v1.payment_intents.create(params)


# --------------------------------------------------------------------- paying


def test_saved_card_pays_then_charges_off_session(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "buyer@example.com"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 4900,
            "currency": "usd",
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "metadata": {"order_id": "ord_1", "account_id": "acc_1"},
            "description": "Order #1",
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "requires_payment_method"
    assert intent.payment_method_types == ["card"]
    assert _id(intent.client_secret).startswith(intent.id + "_secret_")
    assert intent.metadata.to_dict() == {"order_id": "ord_1", "account_id": "acc_1"}
    assert intent.livemode is False

    # The buyer confirms in the browser (Stripe.js): publishable key + client_secret.
    browser = stripe.StripeClient("pk_test_browser", base_addresses={"api": standin.base_url})
    as_browser: Any = {"payment_method": "pm_card_visa", "client_secret": intent.client_secret}
    paid = browser.v1.payment_intents.confirm(intent.id, as_browser)
    assert paid.status == "succeeded"
    assert paid.amount_received == 4900
    charge = client.v1.charges.retrieve(_id(paid.latest_charge))
    assert (charge.amount, charge.amount_captured, charge.status) == (4900, 4900, "succeeded")
    assert charge.payment_intent == intent.id
    saved: Any = client.v1.payment_methods.retrieve(_id(paid.payment_method))
    assert saved.customer == customer.id
    assert saved.card.last4 == "4242"

    upsell = client.v1.payment_intents.create(
        {
            "amount": 1900,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": _id(paid.payment_method),
            "confirm": True,
            "off_session": True,
            "metadata": {"order_id": "ord_1", "upsell": "1"},
        }
    )
    assert upsell.status == "succeeded"
    assert standin.captured_for_customer(customer.id) == 4900 + 1900
    assert len(standin.charges_for(intent.id)) == 1
    assert [e["type"] for e in standin.events_of("payment_intent.succeeded")] == [
        "payment_intent.succeeded"
    ] * 2


def test_secret_mismatch_and_publishable_key_limits(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "eur"})
    browser = stripe.StripeClient("pk_test_browser", base_addresses={"api": standin.base_url})
    wrong_secret: Any = {"payment_method": "pm_card_visa", "client_secret": "nope"}
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        browser.v1.payment_intents.confirm(intent.id, wrong_secret)
    assert wrong.value.param == "client_secret"
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.refunds.create({"payment_intent": intent.id})
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_live_real", base_addresses={"api": standin.base_url}
        ).v1.customers.create()


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
    ],
)
def test_declined_cards(
    standin: StripeStandin, client: stripe.StripeClient, card: str, code: str, decline_code: str
) -> None:
    intent = client.v1.payment_intents.create({"amount": 2500, "currency": "usd"})
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(intent.id, {"payment_method": card})
    assert declined.value.http_status == 402
    assert declined.value.code == code
    error: Any = declined.value.error
    assert (error.type, error.decline_code) == ("card_error", decline_code)
    assert error.payment_intent.id == intent.id

    after: Any = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.payment_method is None
    assert after.last_payment_error.code == code
    assert after.last_payment_error.decline_code == decline_code
    assert standin.charges_for(intent.id) == []
    assert [c["status"] for c in standin.charges_for(intent.id, include_failed=True)] == ["failed"]
    assert len(standin.events_of("payment_intent.payment_failed", intent.id)) == 1

    # A new card on the same PaymentIntent pays.
    assert (
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"}).status
        == "succeeded"
    )


def test_decline_on_create_with_confirm(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        _paid_intent(client, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    error: Any = declined.value.error
    assert error.payment_intent.status == "requires_payment_method"
    assert standin.count("payment_intents.create") == 1


def test_three_d_secure_on_session_then_off_session(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "sca@example.com"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 3000,
            "currency": "eur",
            "customer": customer.id,
            "setup_future_usage": "off_session",
        }
    )
    pending: Any = client.v1.payment_intents.confirm(
        intent.id, {"payment_method": "pm_card_threeDSecure2Required"}
    )
    assert pending.status == "requires_action"
    assert pending.next_action.type == "use_stripe_sdk"
    assert standin.charges_for(intent.id) == []

    # The buyer passes the challenge in the browser.
    assert standin.complete_action(intent.id)["status"] == "succeeded"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"

    # That card needs authentication every time: off-session it is refused.
    with pytest.raises(stripe.CardError) as refused:
        client.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": pending.payment_method,
                "confirm": True,
                "off_session": True,
            }
        )
    assert refused.value.code == "authentication_required"
    error: Any = refused.value.error
    assert error.payment_intent.status == "requires_payment_method"


def test_authentication_required_card_off_session_is_card_error(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.CardError) as refused:
        _paid_intent(client, payment_method="pm_card_authenticationRequired", off_session=True)
    assert refused.value.code == "authentication_required"
    assert refused.value.error is not None
    assert refused.value.error.decline_code == "authentication_required"


def test_failed_three_d_secure_in_the_browser(client: stripe.StripeClient) -> None:
    intent: Any = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    assert intent.status == "requires_action"
    # What the bank's challenge page does when the buyer fails it.
    page = intent.next_action.use_stripe_sdk["stripe_js"]
    assert httpx.get(page, params={"succeed": "false"}).status_code == 200
    after: Any = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "payment_intent_authentication_failure"


def test_card_set_up_once_pays_off_session_later(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({})
    intent = client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "usd",
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
        }
    )
    assert intent.status == "requires_action"
    standin.complete_action(intent.id)
    upsell = _paid_intent(
        client, customer=customer.id, payment_method=intent.payment_method, off_session=True
    )
    assert upsell.status == "succeeded"

    standin.decline_future_charges(_id(intent.payment_method), decline_code="insufficient_funds")
    with pytest.raises(stripe.CardError) as declined:
        _paid_intent(
            client, customer=customer.id, payment_method=intent.payment_method, off_session=True
        )
    assert declined.value.error is not None
    assert declined.value.error.decline_code == "insufficient_funds"


def test_payment_method_rules(client: stripe.StripeClient) -> None:
    once = _paid_intent(client)  # no customer: the card cannot be used again
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        _paid_intent(client, payment_method=once.payment_method)

    owner = client.v1.customers.create({})
    other = client.v1.customers.create({})
    saved = _paid_intent(client, customer=owner.id, setup_future_usage="off_session")
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        _paid_intent(client, customer=other.id, payment_method=saved.payment_method)
    assert foreign.value.param == "payment_method"


def test_processing_then_settled(standin: StripeStandin, client: stripe.StripeClient) -> None:
    standin.hold_next_confirms(1)
    intent = _paid_intent(client)
    assert intent.status == "processing"
    assert standin.finish_processing(intent.id)["status"] == "succeeded"
    assert client.v1.payment_intents.retrieve(intent.id).amount_received == 1000


# ------------------------------------------------------- updates, cancel, errors


def test_update_amount_only_before_confirmation(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        {"amount": 1000, "currency": "usd", "metadata": {"bumps": ""}}
    )
    bumped = client.v1.payment_intents.update(
        intent.id, {"amount": 1700, "metadata": {"bumps": "bmp_1"}}
    )
    assert (bumped.amount, bumped.metadata["bumps"]) == (1700, "bmp_1")

    paid = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert paid.amount_received == 1700
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.update(intent.id, {"amount": 2000})
    assert refused.value.http_status == 400
    assert refused.value.code == "payment_intent_unexpected_state"
    assert refused.value.param == "amount"
    # Metadata may change whatever the status, as on Stripe.
    tagged = client.v1.payment_intents.update(intent.id, {"metadata": {"order_id": "o1"}})
    assert tagged.metadata.to_dict() == {"bumps": "bmp_1", "order_id": "o1"}
    assert tagged.amount == 1700


def test_cancel(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    canceled = client.v1.payment_intents.cancel(
        intent.id, {"cancellation_reason": "requested_by_customer"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as paid:
        client.v1.payment_intents.cancel(_paid_intent(client).id)
    assert paid.value.code == "payment_intent_unexpected_state"


def test_invalid_requests_look_like_stripes(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    no_amount: Any = {"currency": "usd"}
    typo: Any = {"amount": 1000, "currency": "usd", "amout": 5}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.create(no_amount)
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "amount")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.create(typo)
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "amout")
    with pytest.raises(stripe.InvalidRequestError) as small:
        client.v1.payment_intents.create({"amount": 10, "currency": "usd"})
    assert small.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.payment_intents.create({"amount": 1000, "currency": "usd", "customer": "cus_x"})
    assert (no_customer.value.http_status, no_customer.value.code) == (400, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as absent:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert (absent.value.http_status, absent.value.code) == (404, "resource_missing")
    not_here: Any = {"amount": 1000, "currency": "usd", "payment_method_data": {"type": "card"}}
    with pytest.raises(stripe.InvalidRequestError, match=r"stand-in .* does not implement"):
        client.v1.payment_intents.create(not_here)
    # Nothing of that executed.
    assert standin.count("payment_intents.create") == 0


def test_expand_and_module_level_api(standin: StripeStandin) -> None:
    with standin.module_configured():
        assert stripe.api_base == standin.base_url
        customer = stripe.Customer.create(email="mod@example.com")
        legacy: Any = {"payment_method_types": ["card"]}  # before 2026 API versions; accepted
        intent: Any = stripe.PaymentIntent.create(
            amount=1200,
            currency="gbp",
            customer=customer.id,
            payment_method="pm_card_mastercard",
            confirm=True,
            **legacy,
            expand=["latest_charge", "customer"],
        )
        assert intent.latest_charge.amount_captured == 1200
        assert intent.customer.email == "mod@example.com"
    assert stripe.api_base != standin.base_url


def test_form_parsing_accepts_both_array_styles() -> None:
    parsed = parse_form(
        [
            ("payment_method_types[]", "card"),
            ("payment_method_types[]", "link"),
            ("expand[0]", "latest_charge"),
            ("expand[1]", "customer"),
            ("metadata[order_id]", "7"),
            ("automatic_payment_methods[enabled]", "true"),
            ("items[1][price]", "b"),
            ("items[0][price]", "a"),
            ("description", ""),
        ]
    )
    assert parsed == {
        "payment_method_types": ["card", "link"],
        "expand": ["latest_charge", "customer"],
        "metadata": {"order_id": "7"},
        "automatic_payment_methods": {"enabled": "true"},
        "items": [{"price": "a"}, {"price": "b"}],
        "description": "",
    }
    with pytest.raises(ParamError):
        parse_form([("metadata", "x"), ("metadata[a]", "b")])


# ------------------------------------------------------------------ idempotency


def test_same_key_same_params_replays_the_first_answer(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    key = _key()
    params: Any = {"amount": 1000, "currency": "usd", "metadata": {"order_id": "o1"}}
    first = client.v1.payment_intents.create(params, {"idempotency_key": key})
    again = client.v1.payment_intents.create(params, {"idempotency_key": key})
    assert again.id == first.id
    assert again.client_secret == first.client_secret
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert standin.count("payment_intents.create") == 1
    assert len(standin.payment_intents()) == 1
    assert [r.replayed for r in standin.requests] == [False, True]

    other_params: Any = {**params, "amount": 2000}
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(other_params, {"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({}, {"idempotency_key": key})  # another endpoint
    assert standin.count("payment_intents.create") == 1

    # Keys are scoped to the API key (the account).
    other = standin.client("sk_test_another_account")
    assert other.v1.payment_intents.create(params, {"idempotency_key": key}).id != first.id


def test_a_decline_is_replayed_not_retried(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    key = _key()
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.confirm(
                intent.id, {"payment_method": "pm_card_chargeDeclined"}, {"idempotency_key": key}
            )
    assert standin.count("payment_intents.confirm") == 1
    assert len(standin.charges_for(intent.id, include_failed=True)) == 1


def _in_threads(n: int, work: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    return results


def test_concurrent_requests_with_one_key_create_one_object(
    standin: StripeStandin,
) -> None:
    client = standin.client()
    key = _key()
    results = _in_threads(
        8,
        lambda: (
            client.v1.payment_intents.create(
                {"amount": 1000, "currency": "usd"}, {"idempotency_key": key}
            ).id
        ),
    )
    assert len(set(results)) == 1
    assert standin.count("payment_intents.create") == 1


@pytest.mark.parametrize("key_in_use", ["conflict", "wait"])
def test_key_in_flight(standin: StripeStandin, key_in_use: str) -> None:
    """A slow first request holds its key: the other gets Stripe's 409 (and the client
    retries it) or, in "wait" mode, waits and gets the replay."""
    standin.key_in_use = key_in_use
    standin.delay_next(1, 0.4, when="during", op="payment_intents.create")
    key = _key()
    if key_in_use == "conflict":
        lone = standin.client()
        results = _in_threads(
            2,
            lambda: (
                lone.v1.payment_intents.create(
                    {"amount": 1000, "currency": "usd"}, {"idempotency_key": key}
                ).id
            ),
        )
        assert sum(isinstance(r, stripe.APIError) for r in results) == 1
        conflict: Any = next(r for r in results if isinstance(r, stripe.APIError))
        assert conflict.http_status == 409
        assert conflict.json_body is not None
        assert conflict.json_body["error"]["code"] == "idempotency_key_in_use"
        standin.delay_next(1, 0.4, when="during", op="payment_intents.create")
        key = _key()
    retrying = standin.client(max_network_retries=10)
    results = _in_threads(
        2,
        lambda: (
            retrying.v1.payment_intents.create(
                {"amount": 1000, "currency": "usd"}, {"idempotency_key": key}
            ).id
        ),
    )
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert standin.count("payment_intents.create") == (2 if key_in_use == "conflict" else 1)


# ---------------------------------------------------------------------- refunds


def test_refunds_never_exceed_the_capture(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    intent = _paid_intent(client, amount=5000)
    partial = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1500})
    assert (partial.amount, partial.status, partial.charge) == (
        1500,
        "succeeded",
        intent.latest_charge,
    )
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"charge": intent.latest_charge, "amount": 3501})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    rest = client.v1.refunds.create({"charge": intent.latest_charge})
    assert rest.amount == 3500
    with pytest.raises(stripe.InvalidRequestError) as done:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 1})
    assert done.value.code == "charge_already_refunded"

    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (5000, 5000, True)
    assert client.v1.refunds.retrieve(partial.id).amount == 1500
    assert [
        e["data"]["object"]["amount_refunded"] for e in standin.events_of("charge.refunded")
    ] == [
        1500,
        5000,
    ]


def test_concurrent_refunds_cannot_overdraw(
    standin: StripeStandin, client: stripe.StripeClient
) -> None:
    intent = _paid_intent(client, amount=1000)
    results = _in_threads(
        6, lambda: client.v1.refunds.create({"payment_intent": intent.id, "amount": 300}).id
    )
    assert sum(isinstance(r, str) for r in results) == 3
    assert all(isinstance(r, str | stripe.InvalidRequestError) for r in results)
    assert standin.charge(intent.latest_charge)["amount_refunded"] == 900


def test_refund_of_unpaid_intent_is_refused(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"payment_intent": intent.id})
    assert refused.value.param == "payment_intent"


# ----------------------------------------------------------------------- faults


def test_500s_are_retried_by_the_client_with_its_own_key(standin: StripeStandin) -> None:
    standin.fail_next(2, op="payment_intents.create")
    client = standin.client(max_network_retries=2)
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    assert intent.status == "requires_payment_method"
    assert standin.count("payment_intents.create") == 1
    seen = [r for r in standin.requests if r.op == "payment_intents.create"]
    assert [r.status for r in seen] == [500, 500, 200]
    assert seen[0].idempotency_key is not None
    assert len({r.idempotency_key for r in seen}) == 1  # one key, generated by the client


def test_500_without_retries_is_an_api_error(standin: StripeStandin) -> None:
    standin.fail_next(1)
    with pytest.raises(stripe.APIError) as failed:
        standin.client().v1.customers.create({})
    assert failed.value.http_status == 500
    assert standin.count("customers.create") == 0


def test_lost_answer_is_replayed_on_retry(standin: StripeStandin) -> None:
    standin.fail_after_commit_next(1, op="payment_intents.confirm")
    client = standin.client(max_network_retries=1)
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    paid = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded"
    assert standin.count("payment_intents.confirm") == 1
    assert len(standin.charges_for(intent.id)) == 1
    confirms = [r for r in standin.requests if r.op == "payment_intents.confirm"]
    assert [(r.status, r.replayed) for r in confirms] == [(500, False), (200, True)]


def test_slow_stripe_times_the_client_out_but_does_the_work(standin: StripeStandin) -> None:
    standin.delay_next(1, 0.8, op="payment_intents.create")
    client = standin.client(timeout=0.2)
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    assert time.monotonic() - started < 0.7
    deadline = time.monotonic() + 5
    while standin.count("payment_intents.create") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert standin.count("payment_intents.create") == 1  # it happened all the same


def test_timeout_then_retry_with_the_same_key_creates_one(standin: StripeStandin) -> None:
    standin.delay_next(1, 0.5, when="after", op="payment_intents.create")
    client = standin.client(timeout=0.2, max_network_retries=2)
    intent = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    assert standin.count("payment_intents.create") == 1
    assert len(standin.payment_intents()) == 1
    assert standin.payment_intents()[0]["id"] == intent.id


# --------------------------------------------------------------------- webhooks


class _Receiver:
    """A webhook endpoint: records each POST (body, Stripe-Signature) and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                received.append((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders/stripe/webhook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    """A local webhook endpoint."""
    r = _Receiver()
    yield r
    r.close()


def test_sent_events_verify_with_the_stripe_library(
    standin: StripeStandin, client: stripe.StripeClient, receiver: _Receiver
) -> None:
    intent = _paid_intent(client)
    delivery = standin.send_event(receiver.url, "payment_intent.succeeded", intent.id)
    assert delivery.status == 200
    body, signature = receiver.received[-1]
    event = stripe.Webhook.construct_event(body, signature, standin.webhook_secret)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == intent.id
    assert event.data.object.status == "succeeded"

    tampered = body.replace('"amount": 1000', '"amount": 1')
    assert tampered != body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, signature, standin.webhook_secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_someone_else")
    stale = standin.sign(body, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(body, stale, standin.webhook_secret)
    fresh = standin.sign(body, timestamp=int(time.time()) - 200)
    assert stripe.Webhook.construct_event(body, fresh, standin.webhook_secret).id == event.id

    # A tampered body, posted as such, fails verification at the receiver.
    standin.deliver(event.id, receiver.url, payload=tampered)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(*receiver.received[-1], standin.webhook_secret)


def test_state_changes_are_delivered_and_can_be_replayed_out_of_order(
    standin: StripeStandin, client: stripe.StripeClient, receiver: _Receiver
) -> None:
    standin.webhook_url = receiver.url
    standin.webhook_types = {"payment_intent.succeeded", "charge.refunded"}
    intent = _paid_intent(client, amount=2000)
    client.v1.refunds.create({"payment_intent": intent.id, "amount": 500})
    assert standin.wait_for_deliveries(5)
    types = [json.loads(body)["type"] for body, _ in receiver.received]
    assert types == ["payment_intent.succeeded", "charge.refunded"]
    for body, signature in receiver.received:
        stripe.Webhook.construct_event(body, signature, standin.webhook_secret)

    # The same events again, newest first, and one twice.
    events = [json.loads(body)["id"] for body, _ in receiver.received]
    for event_id in [*reversed(events), events[0]]:
        assert standin.deliver(event_id).status == 200
    replayed = [json.loads(body)["id"] for body, _ in receiver.received[2:]]
    assert replayed == [events[1], events[0], events[0]]
    assert len(standin.deliveries) == 5
    succeeded = json.loads(receiver.received[0][0])
    assert succeeded["request"]["idempotency_key"] is not None  # the confirming request's key


# --------------------------------------------------------------------- disputes


def test_a_disputed_charge_sends_signed_dispute_events_and_reads_back(
    standin: StripeStandin, client: stripe.StripeClient, receiver: _Receiver
) -> None:
    standin.webhook_url = receiver.url
    standin.webhook_types = {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
    }
    intent = _paid_intent(client, amount=2000)
    charge_id = _id(intent.latest_charge)
    dispute = standin.create_dispute(intent.id, amount=1500, reason="product_not_received")
    assert (dispute["charge"], dispute["payment_intent"]) == (charge_id, intent.id)
    assert (dispute["amount"], dispute["currency"], dispute["status"]) == (
        1500,
        "usd",
        "needs_response",
    )
    assert standin.charge(charge_id)["disputed"] is True
    standin.update_dispute(dispute["id"], status="under_review")
    standin.close_dispute(dispute["id"], won=False)
    with pytest.raises(ValueError, match="closed"):
        standin.close_dispute(dispute["id"], won=True)
    assert standin.wait_for_deliveries(5)
    received = [
        stripe.Webhook.construct_event(body, signature, standin.webhook_secret)
        for body, signature in receiver.received
    ]
    assert [(e.type, e.data.object.status) for e in received] == [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.updated", "under_review"),
        ("charge.dispute.closed", "lost"),
    ]
    fetched = client.v1.disputes.retrieve(dispute["id"])
    assert (fetched.status, fetched.amount, fetched.charge) == ("lost", 1500, charge_id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.retrieve("dp_missing")
    # A charge that took no money cannot be disputed.
    with pytest.raises(KeyError):
        standin.create_dispute("ch_missing")
