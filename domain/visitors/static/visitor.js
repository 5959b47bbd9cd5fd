/* Published funnel pages: form tokens, the consent banner and page_view tracking.
   Values come from the page's #fp-visit block and the first-party cookies the server set. */
(function () {
  "use strict";
  var block = document.getElementById("fp-visit");
  if (!block) { return; }
  var ctx = JSON.parse(block.textContent);

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Double-submit CSRF: every form of ours carries the token its cookie holds.
  var token = cookie("fp_csrf") || "";
  Array.prototype.forEach.call(document.querySelectorAll("input[data-csrf]"), function (input) {
    input.value = token;
  });

  // The analytics contract's body; text/plain so sendBeacon needs no CORS preflight.
  function track(type) {
    var visitor = cookie("visitor_id");
    var session = cookie("session_id");
    if (!visitor || !session) { return false; }
    var body = JSON.stringify({
      event_id: "pv:" + randomId(),
      type: type,
      funnel_id: ctx.funnel_id,
      step_id: ctx.step_id,
      page_id: ctx.page_id,
      visitor_id: visitor,
      session_id: session,
      occurred_at: new Date().toISOString(),
      ab_test_id: ctx.ab_test_id,
      variant_id: ctx.variant_id,
      properties: { path: window.location.pathname },
      key: ctx.key
    });
    if (navigator.sendBeacon && navigator.sendBeacon(ctx.track_url, body)) { return true; }
    window.fetch(ctx.track_url, {
      method: "POST", body: body, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain" }
    }).catch(function () { /* analytics never breaks the page */ });
    return true;
  }

  function answerConsent(decision, banner) {
    var form = new URLSearchParams({ csrf_token: token, decision: decision });
    window.fetch(ctx.consent_url, { method: "POST", body: form, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { return; }
        banner.hidden = true;
        if (decision === "yes") {
          track("page_view");
          if (ctx.ab_test_id) { track("exposure"); }
        }
      });
  }

  var consent = cookie("tracking_consent");
  if (ctx.consent_required && consent !== "yes") {
    var banner = document.querySelector("[data-consent-banner]");
    if (banner && consent !== "no") {
      banner.hidden = false;
      Array.prototype.forEach.call(banner.querySelectorAll("[data-consent]"), function (button) {
        button.addEventListener("click", function () {
          answerConsent(button.getAttribute("data-consent"), banner);
        });
      });
    }
    return;
  }
  track("page_view");
  // Served a split-test variant: the exposure the test's results count.
  if (ctx.ab_test_id) { track("exposure"); }
})();
