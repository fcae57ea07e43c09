// The public load page refreshes its numbers from the JSON feed (no page reload, no flicker).
(function () {
  "use strict";
  var root = document.getElementById("load");
  if (!root || !window.fetch) { return; }
  var lang = root.dataset.lang, min = root.dataset.min, lights = JSON.parse(root.dataset.lights);
  var range = root.dataset.range;  // "≈ {n} min, at most {m}"
  function forecast(s) {
    if (s.forecast_min == null) { return "—"; }
    if (s.forecast_max_min != null && s.forecast_max_min > s.forecast_min) {
      return range.replace("{n}", s.forecast_min).replace("{m}", s.forecast_max_min);
    }
    return "≈ " + s.forecast_min + " " + min;
  }
  var every = Math.max(5, parseInt(root.dataset.refresh, 10) || 15) * 1000;
  // The column headers, repeated inside each cell where a phone shows the rows as cards.
  var labels = {};
  Array.prototype.forEach.call(root.querySelectorAll("tbody tr:first-child td[data-label]"), function (td) {
    labels[td.className] = td.getAttribute("data-label");
  });
  function name(names) { return names[lang] || names.en || Object.values(names)[0] || ""; }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function draw(data) {
    var body = root.querySelector("tbody");
    if (!body) { window.location.reload(); return; }
    body.textContent = "";
    data.services.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.dataset.service = s.service;
      // The forecast is what a ticket taken now would be told (the kiosk's words), never how long
      // those waiting have waited so far.
      [["name", name(s.names)], ["forecast", forecast(s)], ["waiting", s.waiting],
       ["open", s.counters_open]].forEach(function (c) {
        var td = document.createElement("td"); td.className = c[0]; td.textContent = c[1];
        if (labels[c[0]]) { td.setAttribute("data-label", labels[c[0]]); }
        if (c[0] === "name" && s.faster_at) {  // the same service is clearly quicker at another office (issue 21)
          var faster = document.createElement("span"); faster.className = "faster";
          faster.textContent = root.dataset.faster.replace("{office}", name(s.faster_at.names))
            .replace("{address}", name(s.faster_at.address)).replace("{n}", s.faster_at.wait_min);
          td.appendChild(faster);
        }
        tr.appendChild(td);
      });
      var light = document.createElement("td"); light.className = "light";
      if (labels.light) { light.setAttribute("data-label", labels.light); }
      var dot = document.createElement("span"); dot.className = "dot " + s.light;
      var word = document.createElement("span"); word.className = "word"; word.textContent = lights[s.light] || s.light;
      light.appendChild(dot); light.appendChild(document.createTextNode(" ")); light.appendChild(word);
      tr.appendChild(light); body.appendChild(tr);
    });
    var total = document.getElementById("total");
    if (total) { total.textContent = data.waiting; }
    var now = new Date();
    document.getElementById("updated").textContent = two(now.getHours()) + ":" + two(now.getMinutes());
    document.body.classList.remove("stale");
  }
  function tick() {
    fetch(root.dataset.feed, {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(draw)
      .catch(function () { document.body.classList.add("stale"); });
  }
  setInterval(tick, every);
}());
