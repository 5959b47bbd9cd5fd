(function () {
  "use strict";
  var timers = document.querySelectorAll("[data-countdown]");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // An evergreen timer counts from the visitor's first view of this funnel (or page), kept
  // in localStorage; where storage is blocked it counts from this page load.
  function scope() {
    var parts = location.pathname.split("/");
    return parts[1] === "f" ? parts.slice(0, 4).join("/") : location.pathname;
  }
  function firstView(el, now) {
    var key = "fp-countdown:" + scope() + ":" + el.getAttribute("data-element-id");
    try {
      var seen = parseInt(window.localStorage.getItem(key) || "", 10);
      if (seen > 0 && seen <= now) { return seen; }
      window.localStorage.setItem(key, String(now));
    } catch (e) { /* storage blocked: this view is the first */ }
    return now;
  }
  function endOf(el, now) {
    var minutes = parseInt(el.getAttribute("data-duration-minutes") || "", 10);
    if (minutes > 0) { return firstView(el, now) + minutes * 60000; }
    return Date.parse(el.getAttribute("data-ends-at") || "");
  }
  var start = Date.now();
  var ends = [];
  for (var j = 0; j < timers.length; j++) { ends.push(endOf(timers[j], start)); }
  function tick() {
    var now = Date.now();
    for (var i = 0; i < timers.length; i++) {
      var el = timers[i];
      var out = el.querySelector("[data-countdown-remaining]");
      if (!out || isNaN(ends[i])) { continue; }
      var left = Math.floor((ends[i] - now) / 1000);
      if (left <= 0) {
        out.textContent = el.getAttribute("data-expired-text") || "";
        el.classList.add("expired");
        continue;
      }
      var d = Math.floor(left / 86400);
      var h = Math.floor(left % 86400 / 3600);
      var m = Math.floor(left % 3600 / 60);
      var s = left % 60;
      out.textContent = (d > 0 ? d + "d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
    }
  }
  if (timers.length) { tick(); setInterval(tick, 1000); }
})();
