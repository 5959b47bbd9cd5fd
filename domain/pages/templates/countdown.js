(function () {
  "use strict";
  var timers = document.querySelectorAll("[data-countdown]");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now();
    for (var i = 0; i < timers.length; i++) {
      var el = timers[i];
      var out = el.querySelector("[data-countdown-remaining]");
      var ends = Date.parse(el.getAttribute("data-ends-at") || "");
      if (!out || isNaN(ends)) { continue; }
      var left = Math.floor((ends - now) / 1000);
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
