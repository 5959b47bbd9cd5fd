"""The orders module's Stripe gateway against the local stand-in: flows, keys, failures."""

from __future__ import annotations

import json
import uuid

import pytest

from devtools.stripe_standin import StripeStandin
from domain.orders.stripe_gateway import AuthenticationRequired, CardDeclined, StripeGateway
from domain.shared.errors import AppError
from domain.shared.remote import FinalRemoteError, RetryableRemoteError
from domain.shared.settings import get_settings


@pytest.fixture
def standin(stripe_server: StripeStandin) -> StripeStandin:
    """The suite's stand-in, emptied (the gateway here is built with its URL directly)."""
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def gateway(standin: StripeStandin) -> StripeGateway:
    settings = get_settings().model_copy(
        update={"stripe_api_base": standin.base_url, "stripe_timeout_seconds": 1.0}
    )
    return StripeGateway(settings)


def _paid_intent(
    standin: StripeStandin, gateway: StripeGateway, amount: int = 4900
) -> tuple[str, str]:
    key = uuid.uuid4().hex
    customer = gateway.create_customer(email="buyer@example.com", name="Buyer", key=f"c{key}")
    intent = gateway.create_payment_intent(
        amount=amount, currency="USD", customer=customer, metadata={"order_id": key}, key=f"p{key}"
    )
    standin.confirm_as_browser(intent.id)
    return customer, intent.id


def test_checkout_bump_confirm_and_one_click_upsell(
    standin: StripeStandin, gateway: StripeGateway
) -> None:
    customer = gateway.create_customer(email="b@example.com", name=None, key="cust-1")
    intent = gateway.create_payment_intent(
        amount=4900, currency="USD", customer=customer, metadata={"order_id": "o1"}, key="pi-1"
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret
    assert intent.currency == "USD"
    bumped = gateway.update_amount(
        payment_intent=intent.id, amount=6800, metadata={"bumps": "1"}, key="bump-1"
    )
    assert bumped.amount == 6800
    standin.confirm_as_browser(intent.id)
    paid = gateway.retrieve(intent.id)
    assert paid.status == "succeeded"
    assert paid.amount_received == 6800
    assert paid.payment_method is not None
    # After confirmation the amount is fixed.
    with pytest.raises(FinalRemoteError):
        gateway.update_amount(payment_intent=intent.id, amount=9000, metadata={}, key="bump-2")
    upsell = gateway.charge_off_session(
        amount=19700,
        currency="USD",
        customer=customer,
        payment_method=paid.payment_method,
        metadata={"upsell_id": "u1"},
        key="upsell-1",
    )
    assert upsell.status == "succeeded"
    assert standin.captured_for_customer(customer) == 6800 + 19700


def test_the_same_key_never_moves_money_twice(
    standin: StripeStandin, gateway: StripeGateway
) -> None:
    customer, pi_id = _paid_intent(standin, gateway)
    pm = gateway.retrieve(pi_id).payment_method
    assert pm is not None
    charges = [
        gateway.charge_off_session(
            amount=1000,
            currency="USD",
            customer=customer,
            payment_method=pm,
            metadata={},
            key="upsell-once",
        )
        for _ in range(3)
    ]
    assert len({c.id for c in charges}) == 1
    assert standin.captured_for_customer(customer) == 4900 + 1000
    refunds = {
        gateway.refund(payment_intent=pi_id, amount=900, key="refund-once").id for _ in range(2)
    }
    assert len(refunds) == 1
    assert standin.refunded_for_customer(customer) == 900


def test_declines_are_final_and_say_why(standin: StripeStandin, gateway: StripeGateway) -> None:
    customer, pi_id = _paid_intent(standin, gateway)
    pm = gateway.retrieve(pi_id).payment_method
    assert pm is not None
    standin.decline_future_charges(pm, code="card_declined", decline_code="insufficient_funds")
    with pytest.raises(CardDeclined) as declined:
        gateway.charge_off_session(
            amount=1000,
            currency="USD",
            customer=customer,
            payment_method=pm,
            metadata={},
            key="declined",
        )
    assert declined.value.decline_code == "insufficient_funds"
    assert not declined.value.retryable
    # A card that needs 3-D Secure cannot be charged without the buyer.
    key = uuid.uuid4().hex
    intent = gateway.create_payment_intent(
        amount=500, currency="USD", customer=customer, metadata={}, key=key
    )
    standin.confirm_as_browser(intent.id, "pm_card_authenticationRequired")
    assert gateway.retrieve(intent.id).status == "requires_action"
    standin.complete_action(intent.id)
    saved = gateway.retrieve(intent.id).payment_method
    assert saved is not None
    with pytest.raises(AuthenticationRequired) as needs:
        gateway.charge_off_session(
            amount=700,
            currency="USD",
            customer=customer,
            payment_method=saved,
            metadata={},
            key="needs-3ds",
        )
    # The error names the PaymentIntent it left behind, for the buyer to authenticate later.
    assert needs.value.payment_intent is not None
    assert gateway.retrieve(needs.value.payment_intent).amount == 700


def test_card_declined_at_checkout_is_read_from_the_intent(
    standin: StripeStandin, gateway: StripeGateway
) -> None:
    customer = gateway.create_customer(email="d@example.com", name=None, key=uuid.uuid4().hex)
    intent = gateway.create_payment_intent(
        amount=4900, currency="USD", customer=customer, metadata={}, key=uuid.uuid4().hex
    )
    standin.confirm_as_browser(intent.id, "pm_card_chargeDeclined")
    failed = gateway.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.failure_code == "generic_decline"  # the decline_code Stripe gives this card


def test_outages_are_retryable_and_client_errors_final(
    standin: StripeStandin, gateway: StripeGateway
) -> None:
    standin.fail_next(1, 500)
    with pytest.raises(RetryableRemoteError):
        gateway.create_customer(email="x@example.com", name=None, key="outage-1")
    # The retry with the same key goes through, once.
    customer = gateway.create_customer(email="x@example.com", name=None, key="outage-1")
    assert customer.startswith("cus_")
    standin.delay_next(1, 3.0)
    with pytest.raises(RetryableRemoteError):
        gateway.create_customer(email="y@example.com", name=None, key="slow-1")
    standin.fail_next(1, 429, error_type="invalid_request_error", code="rate_limit")
    with pytest.raises(RetryableRemoteError):
        gateway.create_customer(email="z@example.com", name=None, key="busy-1")
    with pytest.raises(FinalRemoteError) as missing:
        gateway.retrieve("pi_does_not_exist")
    assert not missing.value.retryable
    # The same key with other parameters is a bug of ours: final, never retried.
    with pytest.raises(FinalRemoteError):
        gateway.create_customer(email="other@example.com", name=None, key="outage-1")


def test_a_refund_is_made_once_per_key_and_stripes_refusal_is_final(
    standin: StripeStandin, gateway: StripeGateway
) -> None:
    # What the gateway adds to Stripe's own cap: our key on the request, Stripe's refund id
    # back, and a refusal the job must not retry.
    _, pi_id = _paid_intent(standin, gateway, amount=3000)
    first = gateway.refund(payment_intent=pi_id, amount=2000, key="r1")
    assert standin.refund(first.id)["amount"] == 2000
    # A job retried after a lost answer sends the same key: the same refund, not a second.
    assert gateway.refund(payment_intent=pi_id, amount=2000, key="r1") == first
    assert standin.charges_for(pi_id)[0]["amount_refunded"] == 2000
    with pytest.raises(FinalRemoteError) as refused:
        gateway.refund(payment_intent=pi_id, amount=1001, key="r2")
    assert not refused.value.retryable
    assert refused.value.status == 400
    assert standin.charges_for(pi_id)[0]["amount_refunded"] == 2000


def test_webhook_signatures_are_checked(standin: StripeStandin, gateway: StripeGateway) -> None:
    _, pi_id = _paid_intent(standin, gateway)
    event = standin.make_event("payment_intent.succeeded", pi_id)
    payload = json.dumps(event).encode()
    parsed = gateway.parse_event(payload, standin.sign(payload), standin.webhook_secret)
    assert parsed["id"] == event["id"]
    assert parsed["data"]["object"]["id"] == pi_id
    stale = standin.sign(payload, timestamp=1_000_000_000)
    for body, signature in [(payload + b" ", standin.sign(payload)), (payload, stale)]:
        with pytest.raises(AppError) as refused:
            gateway.parse_event(body, signature, standin.webhook_secret)
        assert refused.value.code == "invalid_signature"
        assert refused.value.status_code == 400
