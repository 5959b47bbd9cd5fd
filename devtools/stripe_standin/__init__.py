"""A local Stripe API for the tests: the part the orders module calls, with Stripe's semantics.

See docs/stripe-standin.md. Start it, point the official client at it, inspect and inject:

    with StripeStandin() as standin:
        client = standin.client(max_network_retries=2)
        pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
"""

from devtools.stripe_standin.app import FaultRule, RequestRecord
from devtools.stripe_standin.cards import CARDS
from devtools.stripe_standin.standin import DEFAULT_API_KEY, StripeStandin
from devtools.stripe_standin.webhooks import Delivery, sign

__all__ = [
    "CARDS",
    "DEFAULT_API_KEY",
    "Delivery",
    "FaultRule",
    "RequestRecord",
    "StripeStandin",
    "sign",
]
