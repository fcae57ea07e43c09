"use strict";
// The hall mirror (hall.html): a file, since the page's policy allows no inline script.
// The office's data, embedded by the server as a JSON data block (no script the policy must allow).
const OFFICE = JSON.parse(document.getElementById("office-data").textContent);
const started = Date.now();
let skew = 0, lastOk = Date.now(), hall = null, lastCalls = "", seen = null, soundOn = false;
const queue = [];
// The server's clock (hall.updated_at is its now): blink, freshness and the clock follow it, not the viewer's.
const serverNow = () => Date.now() + skew;
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const pick = (names, l) => names[l] || names.uk || names.en || Object.values(names)[0] || "";
// The office's clock, whatever the viewer's computer is set to (the TV shows office time too).
const clockFmt = new Intl.DateTimeFormat("uk-UA", {hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: OFFICE.timezone});
// ?lang=xx puts that language first (a screenshot in one language, a hall that wants its main language
// first); the alternation then goes on through the configured languages as before. Unknown codes are ignored.
const wanted = new URLSearchParams(location.search).get("lang");
const first = langs => (wanted && OFFICE.texts[wanted]) ? [wanted].concat(langs.filter(x => x !== wanted)) : langs;
function shown() {
  // As display/board.py: one language at a time, switching every alternate_s, or all side by side.
  const langs = first((hall && hall.languages && hall.languages.length) ? hall.languages : OFFICE.languages);
  if (OFFICE.layout === "side_by_side" || langs.length < 2) return langs;
  return [langs[Math.floor((Date.now() - started) / (OFFICE.alternate_s * 1000)) % langs.length]];
}
function draw() {
  const langs = shown(), l = langs[0], t = OFFICE.texts[l];
  const join = f => langs.map(x => f(OFFICE.texts[x])).join(" / ");
  document.documentElement.lang = l;
  document.getElementById("office").textContent = langs.map(x => pick(OFFICE.names, x)).join(" / ");
  document.getElementById("h-ticket").textContent = join(t => t.ticket);
  document.getElementById("h-window").textContent = join(t => t.window);
  document.getElementById("h-waiting").textContent = join(t => t.waiting);
  // The ticker in the shown languages only: a language without a ticker text shows none, never another's.
  const ticker = Object.assign({}, OFFICE.ticker, hall ? hall.ticker || {} : {});
  document.getElementById("ticker").textContent = langs.map(x => ticker[x] || "").filter(x => x).join("   •   ");
  const sound = document.getElementById("sound");
  sound.textContent = "🔊 " + t.enable_sound;
  const off = Date.now() - lastOk > 5000;
  const o = document.getElementById("offline"); o.style.display = off ? "inline" : "none"; o.textContent = "⚠ " + t.no_connection;
  document.getElementById("clock").textContent = clockFmt.format(new Date(serverNow()));
  if (!hall) return;
  const now = serverNow();
  const calls = hall.calls.slice(0, OFFICE.recent_calls).map((c, i) => {
    const fresh = i === 0 && now - Date.parse(c.called_at) < OFFICE.blink_s * 1000;
    return `<tr class="${i === 0 ? "newest" : ""} ${fresh ? "blink" : ""}" data-label="${esc(c.label)}" data-call="${esc(c.call_id)}"><td class="label">${esc(c.label)}</td><td class="arrow">→</td><td>${esc(c.counter_number)}</td></tr>`;
  }).join("");
  // Rebuild only on change: a rebuilt row would restart its blink.
  if (calls !== lastCalls) { document.getElementById("calls").innerHTML = calls; lastCalls = calls; }
  document.getElementById("load").innerHTML = hall.load.map(s =>
    `<tr><td>${esc(pick(s.names, l))}</td><td>${s.waiting}</td><td><span class="light ${esc(s.light)}" role="img" aria-label="${esc(s.light)}"></span></td></tr>`).join("");
}
function playNext() {
  const audio = document.getElementById("voice");
  if (!soundOn || !audio.paused && !audio.ended && audio.src || !queue.length) return;
  audio.src = `/office/${encodeURIComponent(OFFICE.office)}/hall/call/${encodeURIComponent(queue.shift())}.wav`;
  audio.play().catch(() => { document.getElementById("sound").hidden = false; soundOn = false; });
}
function announce() {
  // As the TV: the first picture after a start is silent; each later new call (or recall) is spoken once.
  const key = c => c.call_id + "@" + c.called_at;
  const keys = hall.calls.map(key);
  if (seen !== null) {
    for (const c of hall.calls.slice().reverse()) {
      if (!seen.has(key(c)) && serverNow() - Date.parse(c.called_at) < 30000) queue.push(c.call_id);
    }
    playNext();
  }
  seen = new Set(keys);
}
async function poll() {
  try {
    const r = await fetch(`/api/v1/offices/${OFFICE.office}/hall`, {cache: "no-store"});
    if (r.ok) { hall = await r.json(); lastOk = Date.now(); skew = Date.parse(hall.updated_at) - lastOk; announce(); }
  } catch (e) { /* keep the last picture; the mark says why */ }
  draw();
}
// Browsers play sound only after a first click on the page: one button, shown until then.
document.getElementById("sound").hidden = false;
document.getElementById("sound").addEventListener("click", () => {
  soundOn = true; document.getElementById("sound").hidden = true; playNext();
});
document.getElementById("voice").addEventListener("ended", playNext);
setInterval(draw, 1000);
draw();  // the headings and the lang attribute at once, before the first answer
setInterval(poll, 1000); poll();
