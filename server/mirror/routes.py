"""Routes of the browser mirrors: start page, hall mirror, web kiosk."""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cherga.server.errors import NotFound
from cherga.server.siteconfig import LANGUAGES, SiteConfig

router = APIRouter(include_in_schema=False)
_STATIC = Path(__file__).resolve().parent / "static"

# Citizen-facing words (from the project glossary), one dict per language.
TEXTS: dict[str, dict[str, str]] = {
    "uk": {"choose_language": "Оберіть мову", "choose_service": "Оберіть послугу", "get_ticket": "Отримати талон",
           "consult": "Консультація", "submit": "Подати документи", "collect": "Отримати результат",
           "ahead": "Перед вами", "wait": "Орієнтовний час очікування", "min": "хв", "please_wait": "Очікуйте виклику",
           "window": "Вікно", "ticket": "Талон", "waiting": "Очікують", "back": "Назад", "no_connection": "Немає зв'язку",
           "unavailable": "Послуга зараз недоступна", "no_more": "Талони на сьогодні закінчились", "status": "Стан талона",
           "priority": "Першочергово", "none": "Ні",
           "appointment": "Попередній запис", "enter_code": "Введіть код запису", "ok": "Гаразд", "bad_code": "Запису з таким кодом немає або його вже використано", "too_early": "Ще зарано: приходьте ближче до часу запису"},
    "ru": {"choose_language": "Выберите язык", "choose_service": "Выберите услугу", "get_ticket": "Получить талон",
           "consult": "Консультация", "submit": "Подать документы", "collect": "Получить результат",
           "ahead": "Перед вами", "wait": "Примерное время ожидания", "min": "мин", "please_wait": "Ожидайте вызова",
           "window": "Окно", "ticket": "Талон", "waiting": "Ожидают", "back": "Назад", "no_connection": "Нет связи",
           "unavailable": "Услуга сейчас недоступна", "no_more": "Талоны на сегодня закончились", "status": "Статус талона",
           "priority": "Вне очереди", "none": "Нет",
           "appointment": "Предварительная запись", "enter_code": "Введите код записи", "ok": "OK", "bad_code": "Записи с таким кодом нет или она уже использована", "too_early": "Ещё рано: приходите ближе ко времени записи"},
    "ky": {"choose_language": "Тилди тандаңыз", "choose_service": "Кызматты тандаңыз", "get_ticket": "Талон алуу",
           "consult": "Консультация", "submit": "Документтерди тапшыруу", "collect": "Натыйжаны алуу",
           "ahead": "Сиздин алдыңызда", "wait": "Болжолдуу күтүү убактысы", "min": "мүн", "please_wait": "Чакырылууну күтүңүз",
           "window": "Терезе", "ticket": "Талон", "waiting": "Күтүп жатышат", "back": "Артка", "no_connection": "Байланыш жок",
           "unavailable": "Кызмат азыр жеткиликсиз", "no_more": "Бүгүнкү талондор бүттү", "status": "Талондун абалы",
           "priority": "Кезексиз", "none": "Жок",
           "appointment": "Алдын ала жазылуу", "enter_code": "Жазылуу кодун киргизиңиз", "ok": "Макул", "bad_code": "Мындай коду бар жазылуу жок же ал колдонулган", "too_early": "Азырынча эрте: жазылган убакытка жакын келиңиз"},
    "kk": {"choose_language": "Тілді таңдаңыз", "choose_service": "Қызметті таңдаңыз", "get_ticket": "Талон алу",
           "consult": "Кеңес", "submit": "Құжаттарды тапсыру", "collect": "Нәтижені алу",
           "ahead": "Сіздің алдыңызда", "wait": "Болжамды күту уақыты", "min": "мин", "please_wait": "Шақыруды күтіңіз",
           "window": "Терезе", "ticket": "Талон", "waiting": "Күтуде", "back": "Артқа", "no_connection": "Байланыс жоқ",
           "unavailable": "Қызмет қазір қолжетімсіз", "no_more": "Бүгінгі талондар таусылды", "status": "Талон күйі",
           "priority": "Кезексіз", "none": "Жоқ",
           "appointment": "Алдын ала жазылу", "enter_code": "Жазылу кодын енгізіңіз", "ok": "Жарайды", "bad_code": "Мұндай коды бар жазылу жоқ немесе ол пайдаланылған", "too_early": "Әлі ерте: жазылу уақытына жақын келіңіз"},
    "en": {"choose_language": "Choose a language", "choose_service": "Choose a service", "get_ticket": "Get a ticket",
           "consult": "Consultation", "submit": "Submit documents", "collect": "Collect the result",
           "ahead": "People ahead of you", "wait": "Estimated wait", "min": "min", "please_wait": "Please wait to be called",
           "window": "Counter", "ticket": "Ticket", "waiting": "Waiting", "back": "Back", "no_connection": "No connection",
           "unavailable": "This service is not available now", "no_more": "No more tickets today", "status": "Ticket status",
           "priority": "Priority", "none": "No",
           "appointment": "I have a booking", "enter_code": "Enter your booking code", "ok": "OK", "bad_code": "No booking has this code, or it was already used", "too_early": "Too early: come closer to your booked time"},
}
LANGUAGE_NAMES = {"uk": "Українська", "ru": "Русский", "ky": "Кыргызча", "kk": "Қазақша", "en": "English"}


def _config(request: Request, office: str) -> SiteConfig:
    svc = request.app.state.services.get(office)
    if svc is not None:
        cfg: SiteConfig = svc.config
        return cfg
    raise NotFound("unknown_office", f"office {office!r} is not served here")


def _office_json(cfg: SiteConfig) -> str:
    """What the pages need about the office, as JSON embedded in the page (no personal data)."""
    data = {
        "office": cfg.office.id,
        "names": cfg.office.names.as_dict(),
        "languages": list(cfg.office.languages),
        "language_names": LANGUAGE_NAMES,
        "texts": {lang: TEXTS[lang] for lang in LANGUAGES},
        "services": [{"id": s.id, "prefix": s.prefix, "names": s.names.as_dict(), "purposes": list(s.purposes),
                      "appointment_only": s.appointment_only} for s in cfg.services],
        "bundles": [{"id": b.id, "names": b.names.as_dict(), "services": list(b.services)} for b in cfg.bundles],
        "categories": [{"id": p.id, "names": p.names.as_dict()} for p in cfg.priority_categories],
        "recent_calls": cfg.display.recent_calls,
        "ticker": cfg.display.ticker.as_dict() if cfg.display.ticker else {},
    }
    # Safe inside <script>: no "</" sequence can close the tag.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _page(name: str, cfg: SiteConfig, title: str) -> HTMLResponse:
    body = (_STATIC / name).read_text(encoding="utf-8")
    body = body.replace("__TITLE__", html.escape(title)).replace("__OFFICE_JSON__", _office_json(cfg))
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/", response_class=HTMLResponse)
def start_page(request: Request) -> HTMLResponse:
    rows = []
    for svc in request.app.state.services.values():
        cfg: SiteConfig = svc.config
        o = html.escape(cfg.office.id)
        name = html.escape(cfg.office.names.get(cfg.office.languages[0]))
        rows.append(
            f"<li><b>{name}</b> ({o}): <a href='/office/{o}/kiosk'>web kiosk</a> · "
            f"<a href='/office/{o}/hall'>hall display</a> · <a href='/office/{o}/book'>booking</a> · "
            f"<a href='/panel/'>operator panel</a> · "
            f"<a href='/api/v1/offices/{o}/load'>load (JSON)</a></li>")
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Cherga</title>"
        "<style>body{font:18px system-ui,sans-serif;margin:2em}a{margin:0 .2em}</style>"
        f"<h1>Cherga</h1><ul>{''.join(rows)}</ul><p><a href='/docs'>API (OpenAPI)</a></p>")


@router.get("/office/{office}/hall", response_class=HTMLResponse)
def hall_mirror(request: Request, office: str) -> HTMLResponse:
    cfg = _config(request, office)
    return _page("hall.html", cfg, cfg.office.names.get(cfg.office.languages[0]))


@router.get("/office/{office}/kiosk", response_class=HTMLResponse)
def web_kiosk(request: Request, office: str) -> HTMLResponse:
    cfg = _config(request, office)
    return _page("kiosk.html", cfg, cfg.office.names.get(cfg.office.languages[0]))
