"""Stripe's test PaymentMethod tokens (`pm_card_*`) and what each card does when charged.

The numbers and behaviours follow https://docs.stripe.com/testing. As on Stripe, using a
token creates a fresh PaymentMethod (`pm_...`) each time; the PaymentIntent names that id.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CARDS", "Card", "Decline"]


@dataclass(frozen=True)
class Decline:
    """How a charge on the card fails: the error's code, decline_code and message."""

    code: str
    decline_code: str | None
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")


@dataclass(frozen=True)
class Card:
    """A test card: brand, number tail, and its behaviour.

    auth: "none"; "always" (3-D Secure on every payment, also off-session, which then
    fails with authentication_required); "setup" (authenticate once on-session; once the
    card is saved for off_session use, later payments need nothing).
    """

    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None
    auth: str = "none"


CARDS: dict[str, Card] = {
    "pm_card_visa": Card("visa", "4242"),
    "pm_card_visa_debit": Card("visa", "5556", funding="debit"),
    "pm_card_mastercard": Card("mastercard", "4444"),
    "pm_card_amex": Card("amex", "8431"),
    "pm_card_chargeDeclined": Card("visa", "0002", decline=GENERIC_DECLINE),
    "pm_card_chargeCustomerFail": Card("visa", "0341", decline=GENERIC_DECLINE),
    "pm_card_chargeDeclinedInsufficientFunds": Card(
        "visa",
        "9995",
        decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "pm_card_chargeDeclinedLostCard": Card(
        "visa", "9987", decline=Decline("card_declined", "lost_card", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedStolenCard": Card(
        "visa", "9979", decline=Decline("card_declined", "stolen_card", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedFraudulent": Card(
        "visa", "0019", decline=Decline("card_declined", "fraudulent", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedExpiredCard": Card(
        "visa", "0069", decline=Decline("expired_card", "expired_card", "Your card has expired.")
    ),
    "pm_card_chargeDeclinedIncorrectCvc": Card(
        "visa",
        "0127",
        decline=Decline(
            "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
        ),
    ),
    "pm_card_chargeDeclinedProcessingError": Card(
        "visa",
        "0119",
        decline=Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
    "pm_card_authenticationRequired": Card("visa", "3184", country="DE", auth="always"),
    "pm_card_threeDSecure2Required": Card("visa", "3220", auth="always"),
    "pm_card_authenticationRequiredOnSetup": Card("visa", "3155", country="DE", auth="setup"),
}

AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
