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
import uuid

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cherga.broker_bridge.contract import MESSAGE_ID_PATTERN
from cherga.server.api.deps import get_service
from cherga.server.errors import ServiceError
from cherga.server.mirror.routes import LANGUAGE_NAMES
from cherga.server.service import OfficeService
from cherga.server.siteconfig import LANGUAGES, Service

router = APIRouter(include_in_schema=False)

# Citizen-facing words (the glossary's "appointment" and "booking code"); ky/kk await a native review.
TEXTS: dict[str, dict[str, str]] = {
    "uk": {"title": "Попередній запис", "choose_service": "Оберіть послугу", "choose_day": "Оберіть день",
           "choose_time": "Оберіть час", "no_slots": "На цей день вільного часу немає", "back": "Назад",
           "booked": "Ви записані", "your_code": "Ваш код запису",
           "how": "Прийдіть не раніше ніж за {early} хв до часу запису, введіть код на терміналі й отримайте талон. "
                  "Якщо запізнитесь більше ніж на {late} хв, отримаєте звичайний талон.",
           "cancel": "Скасувати запис", "enter_code": "Введіть код запису", "cancelled": "Запис скасовано",
           "free": "вільно", "when": "Час", "service": "Послуга", "nothing_to_book": "Запис зараз недоступний",
           "slot_full": "Цей час уже зайняли, оберіть інший", "unknown_appointment": "Запису з таким кодом немає",
           "appointment_not_booked": "Цей запис уже використано або скасовано"},
    "ru": {"title": "Предварительная запись", "choose_service": "Выберите услугу", "choose_day": "Выберите день",
           "choose_time": "Выберите время", "no_slots": "На этот день свободного времени нет", "back": "Назад",
           "booked": "Вы записаны", "your_code": "Ваш код записи",
           "how": "Приходите не раньше чем за {early} мин до времени записи, введите код на терминале и получите "
                  "талон. Если опоздаете больше чем на {late} мин, получите обычный талон.",
           "cancel": "Отменить запись", "enter_code": "Введите код записи", "cancelled": "Запись отменена",
           "free": "свободно", "when": "Время", "service": "Услуга", "nothing_to_book": "Запись сейчас недоступна",
           "slot_full": "Это время уже заняли, выберите другое", "unknown_appointment": "Записи с таким кодом нет",
           "appointment_not_booked": "Эта запись уже использована или отменена"},
    "ky": {"title": "Алдын ала жазылуу", "choose_service": "Кызматты тандаңыз", "choose_day": "Күндү тандаңыз",
           "choose_time": "Убакытты тандаңыз", "no_slots": "Бул күнгө бош убакыт жок", "back": "Артка",
           "booked": "Сиз жазылдыңыз", "your_code": "Жазылуу кодуңуз",
           "how": "Жазылган убакыттан {early} мүнөттөн эрте эмес келип, терминалга кодду киргизип, талон алыңыз. "
                  "{late} мүнөттөн ашык кечиксеңиз, кадимки талон аласыз.",
           "cancel": "Жазылууну жокко чыгаруу", "enter_code": "Жазылуу кодун киргизиңиз",
           "cancelled": "Жазылуу жокко чыгарылды", "free": "бош", "when": "Убакыт", "service": "Кызмат",
           "nothing_to_book": "Азыр жазылуу мүмкүн эмес", "slot_full": "Бул убакыт бош эмес, башкасын тандаңыз",
           "unknown_appointment": "Мындай коду бар жазылуу жок",
           "appointment_not_booked": "Бул жазылуу колдонулган же жокко чыгарылган"},
    "kk": {"title": "Алдын ала жазылу", "choose_service": "Қызметті таңдаңыз", "choose_day": "Күнді таңдаңыз",
           "choose_time": "Уақытты таңдаңыз", "no_slots": "Бұл күнге бос уақыт жоқ", "back": "Артқа",
           "booked": "Сіз жазылдыңыз", "your_code": "Жазылу кодыңыз",
           "how": "Жазылу уақытынан {early} минуттан ерте емес келіп, терминалға кодты енгізіп, талон алыңыз. "
                  "{late} минуттан артық кешіксеңіз, кәдімгі талон аласыз.",
           "cancel": "Жазылуды болдырмау", "enter_code": "Жазылу кодын енгізіңіз", "cancelled": "Жазылу болдырылмады",
           "free": "бос", "when": "Уақыт", "service": "Қызмет", "nothing_to_book": "Қазір жазылу мүмкін емес",
           "slot_full": "Бұл уақыт бос емес, басқасын таңдаңыз", "unknown_appointment": "Мұндай коды бар жазылу жоқ",
           "appointment_not_booked": "Бұл жазылу пайдаланылған немесе болдырылмаған"},
    "en": {"title": "Appointment", "choose_service": "Choose a service", "choose_day": "Choose a day",
           "choose_time": "Choose a time", "no_slots": "No free time on this day", "back": "Back",
           "booked": "You are booked", "your_code": "Your booking code",
           "how": "Come no earlier than {early} min before your time, enter the code at the kiosk and take your "
                  "ticket. If you are more than {late} min late you get an ordinary ticket.",
           "cancel": "Cancel the booking", "enter_code": "Enter your booking code", "cancelled": "Booking cancelled",
           "free": "free", "when": "Time", "service": "Service", "nothing_to_book": "Booking is not available now",
           "slot_full": "This time has just been taken; choose another", "unknown_appointment": "No booking has this code",
           "appointment_not_booked": "This booking was already used or cancelled"},
}
# Weekday names for the day buttons (Monday first).
WEEKDAY_NAMES: dict[str, tuple[str, ...]] = {
    "uk": ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Нд"),
    "ru": ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"),
    "ky": ("Дш", "Шш", "Шр", "Бш", "Жм", "Иш", "Жк"),
    "kk": ("Дс", "Сс", "Ср", "Бс", "Жм", "Сн", "Жс"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

_STYLE = ("body{font:20px system-ui,sans-serif;margin:1em auto;max-width:40em;padding:0 1em}"
          "a.b,button{display:inline-block;margin:.25em;padding:.6em 1em;border:1px solid #246;border-radius:.4em;"
          "background:#eef4fb;color:#123;text-decoration:none;font:inherit;cursor:pointer}"
          ".code{font:bold 2.4em monospace;letter-spacing:.1em}.err{color:#a00;font-weight:bold}"
          "nav a{margin-right:.6em}small{color:#555}")


def _lang(svc: OfficeService, lang: str | None) -> str:
    langs = list(svc.config.office.languages)
    return lang if lang in langs and lang in LANGUAGES else langs[0]


def _page(svc: OfficeService, lang: str, body: str, status: int = 200) -> HTMLResponse:
    t = TEXTS[lang]
    office = svc.config.office
    base = f"/office/{html.escape(office.id)}/book"
    langs = " ".join(f"<a href='{base}?lang={code}' lang='{code}'>{LANGUAGE_NAMES[code]}</a>"
                     for code in office.languages)
    return HTMLResponse(
        f"<!doctype html><html lang='{lang}'><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(t['title'])} · {html.escape(office.names.get(lang))}</title><style>{_STYLE}</style>"
        f"<nav>{langs}</nav><h1>{html.escape(t['title'])}</h1><p>{html.escape(office.names.get(lang))}</p>{body}",
        status_code=status, headers={"Cache-Control": "no-store"})


def _bookable(svc: OfficeService) -> list[Service]:
    return [s for s in svc.config.services if svc.config.booking_capacity(s.id) > 0]


def _qr_svg(text: str) -> str:
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    img.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg"):]  # without the XML declaration: it is inline in the page


@router.get("/office/{office}/book", response_class=HTMLResponse)
def booking_page(request: Request, office: str, lang: str | None = None, service: str | None = None,
                 day: dt.date | None = None) -> HTMLResponse:
    return _booking(request, office, lang, service, day, None)


def _booking(request: Request, office: str, lang: str | None, service: str | None, day: dt.date | None,
             error: str | None) -> HTMLResponse:
    """The step the visitor is at: services, then days with free time, then the free slots of a day."""
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = TEXTS[lang]
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
        parts.append(f"<p><a href='{base}/cancel?lang={lang}'>{html.escape(t['cancel'])}</a></p>")
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
                             f"{WEEKDAY_NAMES[lang][d.weekday()]} {d:%d.%m}</a>")
        if len(parts) == 2 + bool(error):
            parts.append(f"<p>{html.escape(t['no_slots'])}</p>")
        return _page(svc, lang, "".join(parts))
    slots = svc.free_slots(service, day)
    parts.append(f"<h2>{html.escape(t['choose_time'])}: {WEEKDAY_NAMES[lang][day.weekday()]} {day:%d.%m.%Y}</h2>")
    if not slots:
        parts.append(f"<p>{html.escape(t['no_slots'])}</p>")
    parts.append(f"<form method=post action='{base}'><input type=hidden name=lang value='{lang}'>"
                 f"<input type=hidden name=service value='{service}'>"
                 f"<input type=hidden name=command_id value='book-{uuid.uuid4().hex[:24]}'>")
    for s in slots:
        local = s.start.astimezone(svc.config.office.tz)
        parts.append(f"<button name=slot value='{s.start.isoformat()}'>{local:%H:%M} "
                     f"<small>({s.free} {html.escape(t['free'])})</small></button>")
    parts.append(f"</form><p><a href='{base}?lang={lang}&service={service}'>{html.escape(t['back'])}</a></p>")
    return _page(svc, lang, "".join(parts))


@router.post("/office/{office}/book", response_class=HTMLResponse)
def book(request: Request, office: str, service: str = Form(..., max_length=40),
         slot: dt.datetime = Form(...), command_id: str = Form(..., max_length=64, pattern=MESSAGE_ID_PATTERN),
         lang: str = Form("")) -> Response:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = TEXTS[lang]
    try:
        code = svc.book_appointment(service=service, slot=slot, source="web-booking", command_id=command_id)
    except ServiceError as exc:
        # Someone else took the last place meanwhile: back to the day, with the reason.
        return _booking(request, office, lang, service, slot.astimezone(svc.config.office.tz).date(),
                        TEXTS[lang].get(exc.key, exc.message))
    cfg = svc.config
    local = slot.astimezone(cfg.office.tz)
    how = t["how"].format(early=cfg.appointments.early_s // 60, late=cfg.appointments.late_grace_s // 60)
    body = (f"<h2>{html.escape(t['booked'])}</h2>"
            f"<p>{html.escape(t['service'])}: <b>{html.escape(cfg.service(service).names.get(lang))}</b><br>"
            f"{html.escape(t['when'])}: <b>{WEEKDAY_NAMES[lang][local.weekday()]} {local:%d.%m.%Y %H:%M}</b></p>"
            f"<p>{html.escape(t['your_code'])}:</p><p class=code data-code='{code}'>{code}</p>"
            f"<div style='width:12em'>{_qr_svg(code)}</div><p>{html.escape(how)}</p>"
            f"<p><a href='/office/{html.escape(cfg.office.id)}/book/cancel?lang={lang}'>{html.escape(t['cancel'])}</a></p>")
    return _page(svc, lang, body, status=201)


@router.get("/office/{office}/book/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, office: str, lang: str | None = None) -> HTMLResponse:
    return _cancel_form(request, office, lang, None)


def _cancel_form(request: Request, office: str, lang: str | None, error: str | None) -> HTMLResponse:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    t = TEXTS[lang]
    err = f"<p class=err role=alert>{html.escape(error)}</p>" if error else ""
    return _page(svc, lang, (
        f"<h2>{html.escape(t['cancel'])}</h2>{err}<form method=post><input type=hidden name=lang value='{lang}'>"
        f"<label>{html.escape(t['enter_code'])}: <input name=code required maxlength=12 autocomplete=off "
        f"style='font:inherit;text-transform:uppercase'></label> <button>{html.escape(t['cancel'])}</button></form>"
        f"<p><a href='/office/{html.escape(svc.config.office.id)}/book?lang={lang}'>{html.escape(t['back'])}</a></p>"))


@router.post("/office/{office}/book/cancel", response_class=HTMLResponse)
def cancel(request: Request, office: str, code: str = Form(..., max_length=12), lang: str = Form("")) -> Response:
    svc = get_service(request, office)
    lang = _lang(svc, lang)
    try:
        svc.cancel_appointment(code=code.strip(), source="web-booking")
    except ServiceError as exc:
        return _cancel_form(request, office, lang, TEXTS[lang].get(exc.key, exc.message))
    return _page(svc, lang, f"<h2>{html.escape(TEXTS[lang]['cancelled'])}</h2>"
                            f"<p><a href='/office/{html.escape(office)}/book?lang={lang}'>"
                            f"{html.escape(TEXTS[lang]['back'])}</a></p>")

