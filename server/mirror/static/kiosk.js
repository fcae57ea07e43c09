"use strict";
// The web kiosk (kiosk.html): a file, since the page's policy allows no inline script.
// The office's data, embedded by the server as a JSON data block (no script the policy must allow).
const OFFICE = JSON.parse(document.getElementById("office-data").textContent);
// ?lang=ky starts the kiosk in that language and skips the language choice (a kiosk placed for one
// language group, a link from a page already in that language); a code the office lacks is ignored.
const ASKED = OFFICE.languages.find(l => l === new URLSearchParams(location.search).get("lang"));
let lang = ASKED || OFFICE.languages[0], choice = {}, busy = false, idle = null, loadTimer = null;
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const pick = names => names[lang] || names.uk || names.en || Object.values(names)[0] || "";
const T = () => OFFICE.texts[lang];
// Buttons carry no inline handler (the page's policy runs no inline script): btn() keeps each one's
// action, screen() makes the pending actions the shown screen's, and one listener runs them.
let pending = [], actions = [];
const screen = html => { actions = pending; pending = []; document.getElementById("screen").innerHTML = html;
  clearInterval(loadTimer); clearTimeout(idle); idle = setTimeout(home, 15000); };
const btn = (label, on, cls="", attrs="") => { pending.push(on);
  return `<button type="button" class="${cls}" data-act="${pending.length - 1}"${attrs}>${esc(label)}</button>`; };
document.getElementById("screen").addEventListener("click", e => {
  const b = e.target.closest("button[data-act]");
  if (b) actions[Number(b.dataset.act)]();
});
// A form's handler, set once the screen holding it is shown.
const onSubmit = (id, handle) => document.getElementById(id).addEventListener("submit", e => { e.preventDefault(); handle(e.target); });
// Typing counts as a touch: a citizen typing an e-mail is not sent back to the start mid-word.
document.addEventListener("input", () => { clearTimeout(idle); idle = setTimeout(home, 15000); });
let ticket = null;  // the ticket just issued (its token opens its contact form)
function start() { choice = {}; document.getElementById("office").textContent = pick(OFFICE.names);
  screen(`<h2>${OFFICE.languages.map(l => esc(OFFICE.texts[l].choose_language)).join(" · ")}</h2><div class="grid">` +
    OFFICE.languages.map(l => btn(OFFICE.language_names[l], () => setLang(l))).join("") + `</div>`); }
// The first screen: the services in the asked language, else the language choice.
function home() { choice = {}; ticket = null; if (ASKED) setLang(ASKED); else start(); }
function setLang(l) { lang = l; document.documentElement.lang = l; document.getElementById("office").textContent = pick(OFFICE.names); services(); }
function services() {
  // Each service with room under it for "faster at office X" (filled by showFaster), which its button names as its description.
  const items = OFFICE.bundles.map(b => btn(pick(b.names), () => chooseBundle(b.id)))
    .concat(OFFICE.services.filter(s => !s.appointment_only).map((s, i) => `<div class="svc">` +
      btn(`${s.prefix} · ${pick(s.names)}`, () => chooseService(s.id), "", ` aria-describedby="faster-${i}"`) +
      `<p class="faster" id="faster-${i}" data-service="${esc(s.id)}" hidden></p></div>`));
  screen(`<h2>${esc(T().choose_service)}</h2><div class="grid" id="services" aria-busy="true">${items.join("")}</div>` +
    btn(T().have_booking, () => booking(), "booking") + btn(T().back, start, "back"));
  showFaster(); loadTimer = setInterval(showFaster, 30000);
}
// "Faster at <office>, <address>: ≈ N min" (issue 21): another office of the network where the same service
// is clearly quicker, from the public load feed (its faster_at, the touchscreen kiosk's and the load page's
// figure); asked as the list is shown and every 30 s while it stays. No answer: the list stays without it.
async function showFaster() {
  let load = [];
  try { const r = await fetch(`/api/v1/offices/${OFFICE.office}/load`, {cache: "no-store"}); if (r.ok) load = await r.json(); }
  catch (e) { /* no connection: no line rather than an error over the list */ }
  const faster = Object.fromEntries(load.map(s => [s.service, s.faster_at]));
  for (const line of document.querySelectorAll("#services .faster")) {  // none if the citizen has moved on
    const f = faster[line.dataset.service];
    line.textContent = f ? T().faster_at.split("{office}").join(pick(f.names)).split("{address}").join(pick(f.address))
      .split("{n}").join(f.wait_min) : "";
    line.hidden = !f;
  }
  document.getElementById("services")?.removeAttribute("aria-busy");
}
function booking(error = "") {
  screen(`<h2>${esc(T().enter_code)}</h2>${error ? `<p class="err">${esc(error)}</p>` : ""}
    <form id="booking-form">
    <input name="code" id="code" class="code" maxlength="12" autocomplete="off" required>
    <button type="submit">${esc(T().send_code)}</button></form>` + btn(T().back, services, "back"));
  onSubmit("booking-form", f => { choice = {appointment_code: f.code.value.trim().toUpperCase()}; issue(); });
  document.getElementById("code").focus(); }
function chooseBundle(id) { choice = {bundle: id, purpose: "consult"}; priority(); }
function chooseService(id) { const s = OFFICE.services.find(x => x.id === id); choice = {service: id};
  if (s.purposes.length === 1) { choice.purpose = s.purposes[0]; priority(); return; }
  screen(`<h2>${esc(pick(s.names))}</h2><div class="grid">` + s.purposes.map(p => btn(T()["purpose." + p], () => { choice.purpose = p; priority(); })).join("") + `</div>` +
    (s.info ? btn(T().info_button, () => info(id), "info") : "") + btn(T().back, services, "back")); }
// "What do I need?" (issue 18): where to go and the documents, as the touchscreen kiosk shows them.
function info(id) { const s = OFFICE.services.find(x => x.id === id), i = s.info;
  const fact = (key, v, name) => v && pick(v) ? `<p class="fact">${esc(T()[key].replace("{" + name + "}", pick(v)))}</p>` : "";
  screen(`<h2>${esc(T().info_title)}: ${esc(pick(s.names))}</h2>` + fact("info_where", i.where, "where") +
    `<ul class="docs">${i.documents.map(d => `<li>${esc(pick(d))}</li>`).join("")}</ul>` +
    fact("info_fee", i.fee, "fee") + fact("info_duration", i.duration, "duration") +
    btn(T().get_ticket, () => { choice.purpose = s.purposes.includes("submit") ? "submit" : s.purposes[0]; priority(); }, "take") +
    btn(T().back, () => chooseService(id), "back")); }
function priority() {
  if (!OFFICE.categories.length) { issue(); return; }
  screen(`<h2>${esc(T().priority)}?</h2><div class="grid">` + btn(T().none, issue) +
    OFFICE.categories.map(c => btn(pick(c.names), () => { choice.priority = c.id; issue(); })).join("") + `</div>` + btn(T().back, services, "back")); }
async function issue() {
  if (busy) return; busy = true;  // a double tap never issues two tickets
  try {
    const r = await fetch(`/api/v1/offices/${OFFICE.office}/tickets`, {method: "POST", headers: {"Content-Type": "application/json",
      "Idempotency-Key": "web-" + (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random())},
      body: JSON.stringify({...choice, language: lang})});
    const body = await r.json();
    if (!r.ok && choice.appointment_code) { const key = body.key;
      booking(key === "too_early" ? T().too_early : T().bad_code); return; }
    if (!r.ok) { const msg = body.key === "daily_cap_reached" ? T()["reason.daily_cap_reached"] : T()["reason.service_closed"];  // errors are {key, message}
      screen(`<p class="err">${esc(msg)}</p>` + btn(T().back, services, "back")); return; }
    const wait = body.wait_min == null ? "—" : body.wait_max_min != null && body.wait_max_min > body.wait_min
      ? T().wait_range_minutes.replace("{n}", body.wait_min).replace("{m}", body.wait_max_min)  // "≈ 12 min, at most 25"
      : `≈ ${body.wait_min} ${T().min}`;
    screen(`<div class="ticket" id="ticket" data-label="${esc(body.label)}"><div>${esc(T().ticket)}</div><div class="number">${esc(body.label)}</div>
      <p>${esc(T().ahead)}: ${body.people_ahead ?? 0}</p><p>${esc(T().estimated_wait)}: ${esc(wait)}</p><p><b>${esc(T().please_wait)}</b></p>
      ${body.status_url ? `<p><a href="${esc(body.status_url)}">${esc(T().status)}</a></p>` : ""}</div>` +
      (offersContact(body) ? btn(T().notify_offer, () => contactForm(), "take") : "") + btn(T().back, home, "back"));
    ticket = body;
  } catch (e) { screen(`<p class="err">${esc(T().no_connection)}</p>` + btn(T().back, home, "back")); }
  finally { busy = false; }
}
// "Tell me when my turn is near" (issue 19), as on the touchscreen kiosk: after the ticket, only where
// the office sends notifications; the same REST door as the phone's form. Nothing leaves without the tick;
// what was typed is kept on a refusal and forgotten with the visit. novalidate: the browser would word a
// slip in its own language; the server words it in the citizen's.
function offersContact(issued) { return !!(OFFICE.notify && issued.token && issued.status === "waiting"); }
const INPUTS = {sms: 'type="tel" inputmode="tel" autocomplete="off"', email: 'type="email" inputmode="email" autocomplete="off"',
                telegram: 'type="text" inputmode="numeric" autocomplete="off"'};
function typed() { const f = document.getElementById("contact");
  return f ? {channel: f.channel.value, address: f.address.value, consent: f.consent.checked} : {}; }
// Another channel: what was typed stays, but the phone's "+" alone is no start for an e-mail.
function switchChannel() { const w = typed(); if (w.address === "+") delete w.address; contactForm("", w); }
function contactForm(error = "", was = {}) {
  const chans = OFFICE.notify.channels, ch = was.channel || chans[0];
  const consent = OFFICE.notify.consent[lang] || Object.values(OFFICE.notify.consent)[0] || "";
  screen(`<h2>${esc(T().notify_title)}</h2><p>${esc(T().notify_intro.replace("{ticket}", ticket.label))}</p>
    <form id="contact" novalidate>
    <fieldset><legend>${esc(T().notify_title)}</legend>${chans.map(c => `<label class="ch"><input type="radio" name="channel"
      value="${c}" ${c === ch ? "checked" : ""}>${esc(T()["channel." + c])}</label>`).join("")}</fieldset>
    <label for="address">${esc(T()["enter." + ch])}</label>
    <input id="address" name="address" maxlength="254" ${INPUTS[ch]} value="${esc(was.address ?? (ch === "sms" ? "+" : ""))}"
      aria-describedby="hint${error ? " contact-error" : ""}">
    <p class="hint" id="hint">${esc(T()["hint." + ch])}</p>
    ${error ? `<p class="err" id="contact-error" role="alert">${esc(error)}</p>` : ""}
    <div class="agree"><input type="checkbox" id="consent" name="consent" ${was.consent ? "checked" : ""}>
      <label for="consent">${esc(consent)}</label></div>
    <button type="submit" class="take">${esc(T().confirm)}</button></form>` + btn(T().no_thanks, home, "back"));
  onSubmit("contact", saveContact);
  for (const radio of document.querySelectorAll("#contact input[name=channel]")) radio.addEventListener("change", switchChannel);
  document.getElementById("address").focus(); }
async function saveContact() {
  const was = typed();
  if (!was.consent) { contactForm(T()["contact.consent_required"], was); return; }
  if (busy) return; busy = true;
  try {
    const r = await fetch(`/api/v1/tickets/${encodeURIComponent(ticket.token)}/contacts`, {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({channel: was.channel, address: was.address, consent: true, language: lang})});
    if (r.ok) { screen(`<h2 id="saved">${esc(T().contact_saved)}</h2>` + btn(T().ok, home, "take")); return; }
    const key = (await r.json()).key;
    contactForm(T()["contact." + key] || T()["contact.generic"], was);
  } catch (e) { contactForm(T()["contact.generic"], was); }
  finally { busy = false; }
}
home();
