// Cherga operator panel: live updates without reloading, in plain JavaScript (no build, no CDN).
// - forms marked data-panel are sent with fetch; the answer is the new live fragment;
// - a server-sent event stream (/panel/events) says "something changed": the fragment is fetched again;
// - while the operator is typing in the fragment, the refresh waits until the field is left.
(function () {
  "use strict";
  var live = document.getElementById("panel-live");
  var badge = document.getElementById("live");
  if (!live) { return; }
  var fragmentUrl = live.getAttribute("data-fragment");
  var eventsUrl = live.getAttribute("data-events");
  var pending = false, inflight = false;
  var lastFlash = null;  // the answer to the operator's own action survives the refreshes that follow it
  var FLASH_KEEP_MS = 10000;

  function setLive(ok) {
    if (!badge) { return; }
    badge.textContent = badge.getAttribute(ok ? "data-live" : "data-reconnecting");
    badge.className = ok ? "live" : "live off";
  }

  function typing() {
    var el = document.activeElement;
    return el && live.contains(el) && (el.tagName === "INPUT" && el.type !== "hidden" && el.type !== "checkbox" || el.tagName === "SELECT");
  }

  function swap(html) {
    live.innerHTML = html;
    var flash = live.querySelector(".flash");
    if (flash) { return; }
    if (lastFlash && Date.now() - lastFlash.at < FLASH_KEEP_MS) {
      var grid = live.querySelector(".grid");
      if (grid) { grid.insertAdjacentHTML("beforebegin", lastFlash.html); }
    }
  }

  function swapAnswer(html) {
    live.innerHTML = html;
    var flash = live.querySelector(".flash");
    lastFlash = flash ? { html: flash.outerHTML, at: Date.now() } : null;
  }

  function refresh() {
    if (inflight) { pending = true; return; }
    if (typing()) { pending = true; return; }
    inflight = true;
    fetch(fragmentUrl, { headers: { "X-Panel-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.text();
      })
      .then(function (html) { if (html !== null) { swap(html); } })
      .catch(function () { setLive(false); })
      .finally(function () {
        inflight = false;
        if (pending) { pending = false; setTimeout(refresh, 50); }
      });
  }

  live.addEventListener("focusout", function () { if (pending) { setTimeout(refresh, 0); } });

  live.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-panel")) { return; }
    ev.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });  // a double click sends one command
    fetch(form.getAttribute("action"), { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "X-Panel-Fragment": "1" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.text();
      })
      .then(function (html) { if (html !== null) { swapAnswer(html); } })
      .catch(function () { setLive(false); buttons.forEach(function (b) { b.disabled = false; }); });
  });

  if (window.EventSource && eventsUrl) {
    var es = new EventSource(eventsUrl);
    es.addEventListener("open", function () { setLive(true); });
    es.addEventListener("change", function () { setLive(true); refresh(); });
    es.addEventListener("error", function () { setLive(false); });
  }
  // A slow safety net: if an event was missed, the page is still at most 20 s old.
  setInterval(refresh, 20000);
})();
