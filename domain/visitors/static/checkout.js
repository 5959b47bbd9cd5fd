/* The order form of a published funnel: bump total, PaymentIntent, order, Stripe.js payment. */
(function () {
  "use strict";
  var ctx = JSON.parse(document.getElementById("fp-visit").textContent);
  var co = ctx.checkout;
  var form = document.querySelector("form[data-order-form]");
  if (!co || !form) { return; }
  var totalEl = form.querySelector("[data-order-total]");
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=bump]"));
  var errors = form.querySelector("[data-order-errors]");
  var submit = form.querySelector("button[type=submit]");

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  // The same format as the server's format_price: "1,234.50 USD", whole units when zero-decimal.
  function price(cents) {
    var whole = co.zero_decimal ? cents : Math.floor(cents / 100);
    var text = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    if (!co.zero_decimal) { text += "." + ("0" + (cents % 100)).slice(-2); }
    return text + " " + co.currency;
  }

  function chosen() { return boxes.filter(function (b) { return b.checked; }); }

  function showTotal() {
    var cents = Number(totalEl.getAttribute("data-base-cents"));
    chosen().forEach(function (b) { cents += Number(b.getAttribute("data-bump-cents")); });
    totalEl.textContent = price(cents);
  }
  boxes.forEach(function (b) { b.addEventListener("change", showTotal); });

  if (typeof window.Stripe !== "function" || !co.stripe_key) {
    // Payments are not set up (no Stripe.js or no STRIPE_PUBLISHABLE_KEY): say so, take nothing.
    errors.textContent = "Payments are not available on this page yet.";
    submit.disabled = true;
    return;
  }
  var stripe = window.Stripe(co.stripe_key);
  var card = stripe.elements().create("card");
  card.mount(form.querySelector("[data-card-element]"));

  function post(url, body) {
    return window.fetch(url, {
      method: "POST", body: JSON.stringify(body), credentials: "omit",
      headers: { "Content-Type": "application/json", "X-Publishable-Key": ctx.key }
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error((data.error && data.error.message) || "The order could not be placed"); }
        return data;
      });
    });
  }

  var placed = null; // {key, intent, order}: a retry with the same cart pays the same order
  function place(cart, customer) {
    var key = JSON.stringify(cart.bump_product_ids);
    if (placed && placed.key === key) { return Promise.resolve(placed); }
    return post(co.payment_intent_url, Object.assign({ email: customer.email }, cart))
      .then(function (intent) {
        return post(co.orders_url, Object.assign(
          { payment_intent_id: intent.payment_intent_id, customer: customer }, cart
        )).then(function (order) {
          var keep = new URLSearchParams({
            csrf_token: cookie("fp_csrf") || "", order_id: order.id, customer_token: order.customer_token
          });
          return window.fetch(co.customer_url, { method: "POST", body: keep, credentials: "same-origin" })
            .then(function (response) {
              if (!response.ok) { throw new Error("Please reload the page and try again"); }
              placed = { key: key, intent: intent, order: order };
              return placed;
            });
        });
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errors.textContent = "";
    submit.disabled = true;
    var name = (form.elements.namedItem("name").value || "").trim().split(/\s+/);
    var customer = { email: form.elements.namedItem("email").value.trim(), first_name: name[0] || null,
      last_name: name.slice(1).join(" ") || null };
    var cart = { funnel_id: ctx.funnel_id, step_id: ctx.step_id,
      bump_product_ids: chosen().map(function (b) { return b.value; }) };
    if (cookie("visitor_id")) { cart.visitor_id = cookie("visitor_id"); }
    if (cookie("session_id")) { cart.session_id = cookie("session_id"); }
    place(cart, customer).then(function (p) {
      return stripe.confirmCardPayment(p.intent.client_secret, {
        payment_method: { card: card, billing_details: { name: name.join(" "), email: customer.email } }
      });
    }).then(function (result) {
      if (result.error) { throw new Error(result.error.message); }
      // The order settles in the background; the visitor goes on at once.
      window.location.assign(co.next_url);
    }).catch(function (error) {
      errors.textContent = error.message;
      submit.disabled = false;
    });
  });
})();
