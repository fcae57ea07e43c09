"""The citizen's booking page: choose a service, a day and a free slot; get a code to show at the kiosk.

Plain HTML forms, rendered on the server: it works on any phone browser, without JavaScript, and
a resent form (a double tap, a reload) books once (each form carries its own command id). The
slots, capacity and refusals are the service layer's (:meth:`OfficeService.free_slots`,
:meth:`~OfficeService.book_appointment`); this module only shows them in the visitor's language.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import uuid

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cherga.broker_bridge.contract import LANGUAGES, MESSAGE_ID_PATTERN
from cherga.server.api.deps import get_service
from cherga.server.dates import FIRST_DAY, day_in_range
from cherga.server.errors import ServiceError
from cherga.server.mirror.i18n import LANGUAGE_NAMES, catalog, weekday
from cherga.server.notify.routes import booking_contact_fields, booking_contact_refusal, save_booking_contact
from cherga.server.service import OfficeService
from cherga.server.siteconfig import Service

router = APIRouter(include_in_schema=False)
QR_PX = 200  # the booking code's QR on the page: a kiosk scanner reads it off a phone screen from 150 px up

_STYLE = ("body{font:20px system-ui,sans-serif;margin:1em auto;max-width:40em;padding:0 1em}"
          "a.b,button{display:inline-block;margin:.25em;padding:.6em 1em;border:1px solid #246;border-radius:.4em;"
          "background:#eef4fb;color:#123;text-decoration:none;font:inherit;cursor:pointer}"
          ".code{font:bold 2.4em monospace;letter-spacing:.1em}.err{color:#a00;font-weight:bold}"
          "nav a{margin-right:.6em}small{color:#555}"
          # Every target a thumb can hit is at least 44 px (the language links, "back", "cancel a
          # booking", the code field, the contact fields' check box): padding grows the text link's box.
          "nav a,p a{display:inline-block;box-sizing:border-box;min-height:44px;min-width:44px;padding:10px 4px}"
          "input,select{font:inherit;box-sizing:border-box;min-height:44px;max-width:100%}"
          "input[type=checkbox]{min-width:44px;min-height:44px;vertical-align:middle}"
          "a.b,button{min-height:44px}"
          # Phones: a long word in a button wraps inside it instead of widening the page.
          "a.b,button{max-width:100%;box-sizing:border-box;overflow-wrap:anywhere}"
          "h1{font-size:clamp(1.4em,7vw,2em);overflow-wrap:anywhere}"
          # The code's QR stays square and at least 150 px (a scanner's minimum), on white with a quiet zone.
          f".qrbox{{background:#fff;display:inline-block;padding:8px}}svg.qr{{width:{QR_PX}px;height:{QR_PX}px;"
          "min-width:150px;max-width:100%;display:block}")


def _lang(svc: OfficeService, lang: str | None) -> str:
    langs = list(svc.config.office.languages)
    return lang if lang in langs and lang in LANGUAGES else langs[0]


def _page(svc: OfficeService, lang: str, body: str, status: int = 200) -> HTMLResponse:
    t = catalog(lang)
    office = svc.config.office
    base = f"/office/{html.escape(office.id)}/book"
    langs = " ".join(f"<a href='{base}?lang={code}' lang='{code}'>{LANGUAGE_NAMES[code]}</a>"
                     for code in office.languages)
    return HTMLResponse(
        f"<!doctype html><html lang='{lang}'><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(t['appointment'])} · {html.escape(office.names.get(lang))}</title><style>{_STYLE}</style>"
        f"<nav>{langs}</nav><h1>{html.escape(t['appointment'])}</h1><p>{html.escape(office.names.get(lang))}</p>{body}",
        status_code=status, headers={"Cache-Control": "no-store"})


def _bookable(svc: OfficeService) -> list[Service]:
    return [s for s in svc.config.services if svc.config.booking_capacity(s.id) > 0]


def _qr_svg(text: str, label: str) -> str:
    """``text`` as an inline QR code; ``label`` is what a screen reader says for it."""
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    img.save(out)
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg"):]  # without the XML declaration: it is inline in the page
    # qrcode sizes it in millimetres (about 75 px for a short code): draw it QR_PX wide instead.
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', f'<svg class="qr" width="{QR_PX}" height="{QR_PX}" role="img" aria-label="{html.escape(label)}"',
                  svg, count=1)


@router.get("/office/{office}/book", response_class=HTMLResponse)
def booking_page(request: Request, office: str, lang: str | None = None, service: str | None = None,
                 day: dt.date | None = None) -> HTMLResponse:
    return _booking(request, office, lang, service, day, None)


def _booking(request: Request, office: str, lang: str | None, service: str | None, day: dt.date | None,
             error: str | None, contact: dict[str, str] | None = None) -> HTMLResponse:
    """The step the visitor is at: services, then days with free time, then the free slots of a day."""
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = catalog(lang)
    base = f"/office/{html.escape(svc.config.office.id)}/book"
    parts: list[str] = []
    if error:
        parts.append(f"<p class=err role=alert>{html.escape(error)}</p>")
    services = {s.id: s for s in _bookable(svc)}
    if service not in services:
        if not services:
            return _page(svc, lang, f"<p>{html.escape(t['nothing_to_book'])}</p>")
        parts.append(f"<h2>{html.escape(t['choose_service'])}</h2>")
        parts += [f"<a class=b href='{base}?lang={lang}&service={s.id}'>{html.escape(s.names.get(lang))}</a>"
                  for s in services.values()]
        parts.append(f"<p><a href='{base}/cancel?lang={lang}'>{html.escape(t['cancel_booking'])}</a></p>")
        return _page(svc, lang, "".join(parts))
    assert service is not None
    name = services[service].names.get(lang)
    today = svc.now().astimezone(svc.config.office.tz).date()
    horizon = svc.config.appointments.horizon_days
    parts.append(f"<p>{html.escape(t['service'])}: <b>{html.escape(name)}</b> "
                 f"<a href='{base}?lang={lang}'>{html.escape(t['back'])}</a></p>")
    if day is None or not today <= day <= today + dt.timedelta(days=horizon):
        parts.append(f"<h2>{html.escape(t['choose_day'])}</h2>")
        for k in range(horizon + 1):
            d = today + dt.timedelta(days=k)
            free = svc.free_slots(service, d)
            if free:
                parts.append(f"<a class=b href='{base}?lang={lang}&service={service}&day={d.isoformat()}'>"
                             f"{weekday(t, d)} {d:%d.%m}</a>")
        if len(parts) == 2 + bool(error):
            parts.append(f"<p>{html.escape(t['no_slots'])}</p>")
        return _page(svc, lang, "".join(parts))
    slots = svc.free_slots(service, day)
    parts.append(f"<h2>{html.escape(t['choose_time'])}: {weekday(t, day)} {day:%d.%m.%Y}</h2>")
    if not slots:
        parts.append(f"<p>{html.escape(t['no_slots'])}</p>")
    parts.append(f"<form method=post action='{base}'><input type=hidden name=lang value='{lang}'>"
                 f"<input type=hidden name=service value='{service}'>"
                 f"<input type=hidden name=command_id value='book-{uuid.uuid4().hex[:24]}'>"
                 + booking_contact_fields(request, svc.office, lang, contact))  # optional, with consent (issue 19)
    for s in slots:
        local = s.start.astimezone(svc.config.office.tz)
        parts.append(f"<button name=slot value='{s.start.isoformat()}'>{local:%H:%M} "
                     f"<small>({s.free} {html.escape(t['free'])})</small></button>")
    parts.append(f"</form><p><a href='{base}?lang={lang}&service={service}'>{html.escape(t['back'])}</a></p>")
    return _page(svc, lang, "".join(parts))


@router.post("/office/{office}/book", response_class=HTMLResponse)
def book(request: Request, office: str, service: str = Form(..., max_length=40),
         slot_text: str = Form(..., alias="slot", max_length=40),
         command_id: str = Form(..., max_length=64, pattern=MESSAGE_ID_PATTERN), lang: str = Form(""),
         contact_channel: str = Form("", max_length=16), contact_address: str = Form("", max_length=254),
         contact_consent: str = Form("", max_length=8)) -> Response:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = catalog(lang)
    try:
        slot = dt.datetime.fromisoformat(slot_text)
    except ValueError:
        return _refused(request, office, lang, service, "not_a_slot")
    if slot.tzinfo is None:
        return _refused(request, office, lang, service, "not_a_slot")
    if not day_in_range(slot):  # far outside any booking horizon (and beyond what dates can count)
        return _refused(request, office, lang, service, "slot_in_past" if slot.date() < FIRST_DAY else "slot_too_far")
    # A contact that cannot be kept is refused before booking, and what was typed stays in the form.
    typed = {"channel": contact_channel, "address": contact_address, "consent": contact_consent}
    if (refusal := booking_contact_refusal(request, svc.office, lang, contact_channel, contact_address,
                                           contact_consent)) is not None:
        page = _booking(request, office, lang, service, slot.astimezone(svc.config.office.tz).date(), refusal, typed)
        page.status_code = 422
        return page
    try:
        code = svc.book_appointment(service=service, slot=slot, source="web-booking", command_id=command_id)
    except ServiceError as exc:
        # Someone else took the last place meanwhile: back to the day, with the reason.
        return _booking(request, office, lang, service, slot.astimezone(svc.config.office.tz).date(),
                        catalog(lang).get(exc.key, exc.message))
    save_booking_contact(request, svc.office, code, lang, contact_channel, contact_address, contact_consent)
    cfg = svc.config
    local = slot.astimezone(cfg.office.tz)
    # "A late visitor gets an ordinary ticket" is no promise where the service takes no walk-ins: say
    # what happens there (the kiosk still checks them in as a walk-in, called between booked visitors).
    words = "how_appointment_only" if cfg.service(service).appointment_only else "how"
    qr_label = f"QR · {t['your_code']}: {code}"  # what a screen reader says for the code's picture
    how = t[words].format(early=cfg.appointments.early_s // 60, late=cfg.appointments.late_grace_s // 60)
    body = (f"<h2>{html.escape(t['booked'])}</h2>"
            f"<p>{html.escape(t['service'])}: <b>{html.escape(cfg.service(service).names.get(lang))}</b><br>"
            f"{html.escape(t['when'])}: <b>{weekday(t, local)} {local:%d.%m.%Y %H:%M}</b></p>"
            f"<p>{html.escape(t['your_code'])}:</p><p class=code data-code='{code}'>{code}</p>"
            f"<div class=qrbox>{_qr_svg(code, qr_label)}</div><p class=how>{html.escape(how)}</p>"
            f"<p><a href='/office/{html.escape(cfg.office.id)}/book/cancel?lang={lang}'>{html.escape(t['cancel_booking'])}</a></p>")
    return _page(svc, lang, body, status=201)


def _refused(request: Request, office: str, lang: str, service: str, key: str) -> HTMLResponse:
    """A slot the form could not have offered: the service's days again, with the reason (422)."""
    page = _booking(request, office, lang, service, None, catalog(lang)[key])
    page.status_code = 422
    return page


@router.get("/office/{office}/book/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, office: str, lang: str | None = None) -> HTMLResponse:
    return _cancel_form(request, office, lang, None)


def _cancel_form(request: Request, office: str, lang: str | None, error: str | None) -> HTMLResponse:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = catalog(lang)
    err = f"<p class=err role=alert>{html.escape(error)}</p>" if error else ""
    return _page(svc, lang, (
        f"<h2>{html.escape(t['cancel_booking'])}</h2>{err}<form method=post><input type=hidden name=lang value='{lang}'>"
        f"<label>{html.escape(t['enter_code'])}: <input name=code required maxlength=12 autocomplete=off "
        f"style='font:inherit;text-transform:uppercase'></label> <button>{html.escape(t['cancel_booking'])}</button></form>"
        f"<p><a href='/office/{html.escape(svc.config.office.id)}/book?lang={lang}'>{html.escape(t['back'])}</a></p>"))


@router.post("/office/{office}/book/cancel", response_class=HTMLResponse)
def cancel(request: Request, office: str, code: str = Form(..., max_length=12), lang: str = Form("")) -> Response:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    try:
        svc.cancel_appointment(code=code.strip(), source="web-booking")
    except ServiceError as exc:
        return _cancel_form(request, office, lang, catalog(lang).get(exc.key, exc.message))
    return _page(svc, lang, f"<h2>{html.escape(catalog(lang)['cancelled'])}</h2>"
                            f"<p><a href='/office/{html.escape(office)}/book?lang={lang}'>"
                            f"{html.escape(catalog(lang)['back'])}</a></p>")

