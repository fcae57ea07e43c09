// The live ticket page: updates over server-sent events, polling when those fail or are missing;
// a chime and a vibration when the holder is called. Browsers play sound only after a tap, so the
// "Turn on sound" button plays the chime once and keeps the audio element for the call.
(function () {
  "use strict";
  var root = document.getElementById("ticket");
  if (!root || !window.fetch) { return; }
  var base = "/t/" + root.dataset.token, lang = root.dataset.lang;
  var every = Math.max(2, parseInt(root.dataset.poll, 10) || 10) * 1000;
  var live = document.getElementById("live"), status = document.getElementById("status");
  var soundButton = document.getElementById("sound");
  // What happened, for whoever looks (and for the browser tests): no other citizen's data is here.
  var state = {alerts: 0, chimes: 0, vibrations: 0, updates: 0, mode: "sse", final: false};
  window.chergaTicket = state;
  var card = live.querySelector("[data-alert]");
  var lastAlert = card ? card.getAttribute("data-alert") : "";
  var audio = null, soundOn = false, es = null, pollTimer = null, opened = false;

  function play(counted) {
    try {
      audio.currentTime = 0;
      var p = audio.play();
      if (p && p.then) {
        p.then(function () { if (counted) { state.chimes += 1; } }, function () { /* no sound device */ });
      } else if (counted) {
        state.chimes += 1;
      }
    } catch (e) { /* the browser refused: vibration and the big words remain */ }
  }
  soundButton.addEventListener("click", function () {
    audio = audio || new Audio("/ticketpage/static/chime.wav");
    soundOn = true;
    soundButton.setAttribute("aria-pressed", "true");
    soundButton.textContent = root.dataset.soundOn;
    play(false);  // this tap is what lets the browser play the chime later, unattended
  });

  function alertHolder() {
    state.alerts += 1;
    if (soundOn && audio) { play(true); }
    if (navigator.vibrate) {
      try { if (navigator.vibrate([400, 200, 400, 200, 400])) { state.vibrations += 1; } } catch (e) { /* not allowed */ }
    }
  }

  function stop() {
    state.final = true;
    var tools = document.querySelector(".waiting-tools");
    if (tools) { tools.hidden = true; }  // nothing will ring any more: no sound button, no "keep open"
    if (es) { es.close(); es = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function apply(data) {
    state.updates += 1;
    live.innerHTML = data.html;
    status.textContent = "";
    if (data.alert && data.alert !== lastAlert) { alertHolder(); }
    lastAlert = data.alert;
    if (data.final) { stop(); }
  }

  function poll() {
    fetch(base + "/live?lang=" + encodeURIComponent(lang), {cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(apply)
      .catch(function () { status.textContent = root.dataset.reconnecting; });
  }

  function startPolling() {
    state.mode = "poll";
    if (es) { es.close(); es = null; }
    if (!pollTimer && !state.final) { pollTimer = setInterval(poll, every); }
  }

  if (window.EventSource) {
    es = new EventSource(base + "/events?lang=" + encodeURIComponent(lang));
    es.addEventListener("open", function () { opened = true; status.textContent = ""; });
    es.addEventListener("update", function (e) { apply(JSON.parse(e.data)); });
    es.addEventListener("end", stop);
    es.addEventListener("error", function () {
      if (!es) { return; }
      if (!opened || es.readyState === 2) {  // never connected, or refused (503: too many streams): poll
        startPolling();
        poll();
      } else {
        status.textContent = root.dataset.reconnecting;  // the browser reconnects by itself
      }
    });
  } else {
    startPolling();
  }

  // A phone wakes the page from the background: catch up at once instead of at the next event.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !state.final) { poll(); }
  });

  // The rating: sent without leaving the page (the form also works without JavaScript).
  live.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("rate")) { return; }
    ev.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    if (ev.submitter && ev.submitter.name) { body.set(ev.submitter.name, ev.submitter.value); }
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    fetch(form.action, {method: "POST", body: body, headers: {"x-ticket-fragment": "1", "Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(apply)
      .catch(function () {
        status.textContent = root.dataset.rateFailed;
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      });
  });
}());
