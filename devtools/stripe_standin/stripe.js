/* The stand-in's Stripe.js: the part of Stripe.js v3 our order form uses, against this server.
   Stripe(pk) -> .elements().create("card").mount(el) and .confirmCardPayment(secret, {payment_method:
   {card, billing_details}}). The card element is a plain input taking Stripe's test numbers. */
(function () {
  "use strict";
  var base = new URL(document.currentScript.src).origin;
  var CARDS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
    "4000002760003184": "pm_card_authenticationRequired"
  };

  function CardElement() { this.input = null; }
  CardElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    var input = document.createElement("input");
    input.type = "text";
    input.inputMode = "numeric";
    input.autocomplete = "cc-number";
    input.placeholder = "Card number";
    input.setAttribute("aria-label", "Card number");
    input.setAttribute("data-standin-card", "");
    input.style.cssText = "width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #d0d5dd;" +
      "border-radius:6px;font:inherit;margin:.4rem 0";
    host.appendChild(input);
    this.input = input;
  };
  CardElement.prototype.on = function () {};
  CardElement.prototype.destroy = function () { if (this.input) { this.input.remove(); } };

  window.Stripe = function (key) {
    if (!/^pk_(test|live)_/.test(String(key))) { throw new Error("Stripe(): a publishable key is needed"); }
    return {
      elements: function () {
        return {
          create: function (type) {
            if (type !== "card") { throw new Error("stand-in Stripe.js: only the card element"); }
            return new CardElement();
          }
        };
      },
      confirmCardPayment: function (secret, data) {
        var card = data && data.payment_method && data.payment_method.card;
        var number = card && card.input ? card.input.value.replace(/\D/g, "") : "";
        var method = CARDS[number];
        if (!method) {
          return Promise.resolve({ error: { type: "validation_error", code: "incorrect_number",
            message: "Your card number is incorrect." } });
        }
        var id = String(secret).split("_secret_")[0];
        var form = new URLSearchParams({ key: key, client_secret: secret, payment_method: method });
        return window.fetch(base + "/v1/payment_intents/" + id + "/confirm", { method: "POST", body: form })
          .then(function (response) {
            return response.json().then(function (body) {
              if (!response.ok) { return { error: body.error }; }
              if (body.status === "requires_action") {
                return { error: { type: "card_error", code: "authentication_required",
                  message: "This card needs 3-D Secure, which the stand-in's Stripe.js does not show." } };
              }
              return { paymentIntent: body };
            });
          });
      }
    };
  };
})();
