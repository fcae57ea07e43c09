// The network load page swaps in its offices from /network/part every few seconds (no reload, no flicker).
(function () {
  "use strict";
  var root = document.getElementById("network");
  if (!root || !window.fetch) { return; }
  var every = Math.max(5, parseInt(root.dataset.refresh, 10) || 15) * 1000;
  function tick() {
    fetch("/network/part?lang=" + encodeURIComponent(root.dataset.lang), {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var box = document.createElement("div");
        box.innerHTML = html;
        var fresh = box.querySelector("#network");
        if (fresh) { root.innerHTML = fresh.innerHTML; }
        document.body.classList.remove("stale");
      })
      .catch(function () { document.body.classList.add("stale"); });
  }
  setInterval(tick, every);
}());
