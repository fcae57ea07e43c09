// Cherga operator panel: live updates without reloading, in plain JavaScript (no build, no CDN).
// - forms marked data-panel are sent with fetch; the answer is the new live fragment;
// - a server-sent event stream (/panel/events) says "something changed": the fragment is fetched again;
// - the new fragment is morphed into the page (idiomorph, vendored under static/vendor/): the page's
//   nodes stay, so focus, the caret and the buttons' places stay; what a person chose or typed in a
//   form is remembered and put back after every live update, until that form is sent.
(function () {
  "use strict";
  var live = document.getElementById("panel-live");
  var badge = document.getElementById("live");
  if (!live) { return; }
  var fragmentUrl = live.getAttribute("data-fragment");
  var eventsUrl = live.getAttribute("data-events");
  var pending = false, inflight = false, sending = 0;
  var answers = 0;  // how many answers to the person's own actions have been shown
  var chosen = Object.create(null);  // "form|field" -> what the person chose or typed there

  function setLive(ok) {
    if (!badge) { return; }
    badge.textContent = badge.getAttribute(ok ? "data-live" : "data-reconnecting");
    badge.className = ok ? "live" : "live off";
  }

  // A form is known by where it posts and what it is about (its hidden fields but the command id):
  // the counter's action forms by their action, the manager's per-ticket forms by their ticket.
  function formKey(form) {
    var key = form.getAttribute("action") || "";
    form.querySelectorAll("input[type=hidden]").forEach(function (h) {
      if (h.name && h.name !== "command_id") { key += "#" + h.name + "=" + h.value; }
    });
    return key;
  }

  // Every form gets an id from its key, in the page and in the new HTML alike, so the morph keeps
  // each form's nodes with the same ticket or action (a field is never handed to another form).
  function nameForms(root) {
    var seen = Object.create(null);
    root.querySelectorAll("form").forEach(function (f) {
      if (f.id && f.id.indexOf("pf-") !== 0) { return; }
      var base = "pf-" + formKey(f).replace(/[^A-Za-z0-9_-]/g, "_");
      seen[base] = (seen[base] || 0) + 1;
      f.id = seen[base] > 1 ? base + "-" + seen[base] : base;
    });
  }

  function editable(el) {
    if (!el.name || !el.form) { return false; }
    if (el.tagName === "SELECT" || el.tagName === "TEXTAREA") { return true; }
    return el.tagName === "INPUT" && ["hidden", "submit", "button", "reset", "image", "file"].indexOf(el.type) < 0;
  }

  function checkable(el) { return el.type === "checkbox" || el.type === "radio"; }

  function fieldKey(el) {
    return formKey(el.form) + "|" + el.name + (checkable(el) ? "=" + el.value : "");
  }

  function remember(ev) {
    var el = ev.target;
    if (!editable(el)) { return; }
    chosen[fieldKey(el)] = checkable(el) ? el.checked : el.value;
  }
  live.addEventListener("input", remember);
  live.addEventListener("change", remember);

  function forget(form) {
    var prefix = formKey(form) + "|";
    Object.keys(chosen).forEach(function (k) { if (k.indexOf(prefix) === 0) { delete chosen[k]; } });
  }

  // Put back what the person chose or typed (the new HTML carries the server's defaults).
  function restore() {
    live.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!editable(el)) { return; }
      var key = fieldKey(el);
      if (!(key in chosen)) { return; }
      var v = chosen[key];
      if (checkable(el)) {
        if (el.checked !== v) { el.checked = v; }
      } else if (el.tagName === "SELECT") {
        var has = Array.prototype.some.call(el.options, function (o) { return o.value === v; });
        if (has && el.value !== v) { el.value = v; }
      } else if (el.value !== v) {
        el.value = v;
      }
    });
  }

  // A counter list that follows a service choice (the transfer's target counter follows its target
  // service): only the counters serving the chosen service are offered; a counter chosen before that
  // no longer fits goes back to "any". Other fields of the form are left as they are.
  function follow(root) {
    root.querySelectorAll("select[data-follows]").forEach(function (sel) {
      var by = sel.form && sel.form.querySelector("[name=" + sel.getAttribute("data-follows") + "]");
      var wanted = (by && by.value) || sel.getAttribute("data-default-service") || "";
      Array.prototype.forEach.call(sel.options, function (o) {
        if (!o.hasAttribute("data-serves")) { return; }
        var fits = o.getAttribute("data-serves").split(" ").indexOf(wanted) >= 0;
        if (o.hidden === fits) { o.hidden = !fits; }
        if (o.disabled === fits) { o.disabled = !fits; }
      });
      var current = sel.options[sel.selectedIndex];
      if (current && current.disabled) { sel.value = ""; }
    });
  }
  live.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.form && el.form.querySelector("select[data-follows='" + el.name + "']")) {
      follow(el.form);
      el.form.querySelectorAll("select[data-follows]").forEach(function (s) { chosen[fieldKey(s)] = s.value; });
    }
  });
  follow(live);

  // answer: the reply to the person's own action. A live refresh never removes that reply (the
  // ".flash" line): it stays until the next reply replaces it, so nothing below it ever jumps up.
  function morph(html, answer) {
    if (window.Idiomorph) {
      var next = document.createElement("template");
      next.innerHTML = html;
      nameForms(live);
      nameForms(next.content);
      window.Idiomorph.morph(live, next.content, {
        morphStyle: "innerHTML",
        ignoreActiveValue: true,  // the field under the caret is never rewritten
        callbacks: {
          beforeNodeRemoved: function (node) {
            return answer || !(node.nodeType === 1 && node.classList.contains("flash"));
          }
        }
      });
    } else {
      live.innerHTML = html;
    }
    restore();
    follow(live);
  }

  function showAnswer(html) {
    answers += 1;
    morph(html, true);
  }

  function refresh() {
    // One fetch at a time; never while the person's own action is on its way (its answer comes first).
    if (inflight || sending) { pending = true; return; }
    inflight = true;
    var seen = answers;
    fetch(fragmentUrl, { headers: { "X-Panel-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        if (answers !== seen || sending) { pending = true; return; }  // older than the answer shown since
        morph(html, false);
      })
      .catch(function () { setLive(false); })
      .finally(function () {
        inflight = false;
        if (pending) { pending = false; setTimeout(refresh, 50); }
      });
  }

  live.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-panel")) { return; }
    ev.preventDefault();
    var body = new FormData(form);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });  // a double click sends one command
    sending += 1;
    fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin",
                         headers: { "X-Panel-Fragment": "1" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.text();
      })
      .then(function (html) {
        sending -= 1;
        if (html !== null) { forget(form); showAnswer(html); }  // the sent form starts afresh
      }, function () { sending -= 1; setLive(false); buttons.forEach(function (b) { b.disabled = false; }); })
      .finally(function () { if (pending && !inflight) { pending = false; setTimeout(refresh, 50); } });
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
