"""The operator panel: server-rendered pages for counters and the hall manager, under ``/panel``.

Every action goes through :class:`server.service.OfficeService` (``app.state.service``), exactly
as the REST API and the MQTT bridge do, so a pad and a panel at the same counter always see one
state. Staff sign in with their password (``server.auth.login``); the bearer token lives in an
HttpOnly, SameSite=Strict cookie. Signing in with a counter also signs the operator in *at* that
counter (what a PIN does at a pad), so the pad there starts calling for them.

Live updates: ``GET /panel/events`` is a server-sent event stream that says "changed" whenever the
service notifies a change; the page's little script (``static/panel.js``) then fetches the live
fragment again. Forms work without JavaScript too (POST, then 303 back to the page).

Each rendered action form carries a fresh ``command_id``: a double click, or a browser resending
the form, applies the action once (the service remembers command ids).

A server that runs several offices (issue 21): the sign-in page first asks which office, the
``cherga_office`` cookie then keeps it, and every page acts on that office's service; an account
not for that office is refused (``error_office_forbidden``). With one office nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from cherga.broker_bridge.contract import (
    LANGUAGES,
    MAX_POSTPONE_S,
    CounterAction,
    CounterState,
    PauseReason,
    TicketInfo,
)
from cherga.i18n import FALLBACK
from cherga.server import auth
from cherga.server.api.offices import device_report
from cherga.server.core.tickets import EventKind
from cherga.server.db import schema
from cherga.server.errors import ServiceError, Unauthorized
from cherga.server.notify.routes import notifier_for
from cherga.server.panel.i18n import Catalog, catalog, pick_language
from cherga.server.panel.reasons import why_text
from cherga.server.panel.refusals import refusal_text
from cherga.server.store import StaffAccount
from cherga.server.updates import offered_versions

HERE = Path(__file__).resolve().parent
BASE = "/panel"
TOKEN_COOKIE = "cherga_panel"
COUNTER_COOKIE = "cherga_counter"
LANG_COOKIE = "cherga_lang"
OFFICE_COOKIE = "cherga_office"
COUNTER_ROLES = ("operator", "hall_manager", "admin")
MANAGER_ROLES = ("hall_manager", "admin")
STATIC_FILES = {"panel.js": "text/javascript", "panel.css": "text/css"}
VENDOR_FILES = {"idiomorph.min.js": "text/javascript"}  # static/vendor/README.md says what and whence
MOVABLE_MAX = 200  # waiting tickets the hall manager's lists offer (the longest waits)
EVENT_STREAM_MAX_S = 300.0  # the browser reconnects by itself; no stream lives forever
KEEPALIVE_S = 15.0
MAX_DELAY_MIN = MAX_POSTPONE_S // 60  # the form's field says so too

router = APIRouter(prefix=BASE, tags=["panel"], include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


# --- plumbing --------------------------------------------------------------------------------------

def _offices(request: Request) -> dict[str, Any]:
    services = getattr(request.app.state, "services", None)
    return services if isinstance(services, dict) else {}


def _chosen_office(request: Request) -> str | None:
    """The office this request acts on when the server runs several: the sign-in form's, else the
    ``?office=`` of the sign-in page, else the cookie; ``None`` when none of them names one served here."""
    offices = _offices(request)
    for value in (getattr(request.state, "office", None), request.query_params.get("office"),
                  request.cookies.get(OFFICE_COOKIE)):
        if value and value in offices:
            return str(value)
    return None


def _service(request: Request) -> Any:
    chosen = _chosen_office(request) if len(_offices(request)) > 1 else None
    service = _offices(request)[chosen] if chosen else getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the office service is not running")
    return service


def _now(service: Any) -> dt.datetime:
    now = getattr(service, "now", None)
    return now() if callable(now) else dt.datetime.now(dt.UTC)


def _staff(request: Request) -> StaffAccount | None:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    service = _service(request)
    try:
        return auth.account_for_token(service.store, token, _now(service))
    except Unauthorized:
        return None


def _lang(request: Request) -> str:
    service = _service(request) if getattr(request.app.state, "service", None) is not None else None
    office_langs = list(service.config.office.languages) if service is not None else []
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), *office_langs)


def _languages(request: Request) -> list[tuple[str, str]]:
    service = _service(request)
    offered = [lang for lang in service.config.office.languages if lang in LANGUAGES]
    for lang in LANGUAGES:  # staff may read a language the office does not offer citizens
        if lang not in offered:
            offered.append(lang)
    return [(lang, catalog(lang)["lang_name"]) for lang in offered]


def _minutes(seconds: float | None) -> int:
    return 0 if not seconds else int(seconds // 60)


def _context(request: Request, staff: StaffAccount | None, **extra: Any) -> dict[str, Any]:
    service = _service(request)
    lang = _lang(request)
    config = service.config

    def service_name(sid: str) -> str:
        try:
            return str(config.service(sid).names.get(lang))
        except KeyError:
            return sid

    return {
        "request": request, "lang": lang, "t": catalog(lang), "base": BASE, "staff": staff,
        "languages": _languages(request), "office_name": config.office.names.get(lang),
        "services": config.services, "counters": [c for c in config.counters],
        "categories": config.priority_categories, "service_name": service_name, "minutes": _minutes,
        "new_id": lambda: uuid.uuid4().hex, "flash": None, "pause_reasons": [r.value for r in PauseReason],
        "local_time": lambda t: t.astimezone(config.office.tz).strftime("%H:%M"),
        "why": lambda facts: why_text(config, lang, catalog(lang), facts), **extra,
    }


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if "lang" in request.query_params and request.query_params["lang"] == ctx["lang"]:
        response.set_cookie(LANG_COOKIE, ctx["lang"], max_age=365 * 86400, samesite="strict")
    return response


def _wants_fragment(request: Request) -> bool:
    return request.headers.get("x-panel-fragment") == "1"


def _signin_redirect() -> RedirectResponse:
    return RedirectResponse(f"{BASE}/signin", status_code=303)


def _error_text(request: Request, t: Catalog, exc: ServiceError) -> str:
    """The refusal in ``t``'s language, naming services and counters as staff know them (never ids)."""
    lang = next((code for code in LANGUAGES if catalog(code) is t), FALLBACK)
    return refusal_text(getattr(_service(request), "config", None), lang, exc)


def _guard(request: Request, roles: tuple[str, ...]) -> StaffAccount | Response:
    staff = _staff(request)
    if staff is None or (len(_offices(request)) > 1 and _chosen_office(request) is None):
        return Response(status_code=401) if _wants_fragment(request) else _signin_redirect()
    if staff.role != "admin" and staff.role not in roles:
        t = catalog(_lang(request))
        raise HTTPException(403, t["error_forbidden"])
    if not staff.may_act_on(_service(request).office):  # another office of this server (issue 21)
        raise HTTPException(403, catalog(_lang(request))["error_office_forbidden"])
    return staff


# --- sign in / out -----------------------------------------------------------------------------------

@router.get("", include_in_schema=False)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    staff = _staff(request)
    if staff is None:
        return _signin_redirect()
    counter = request.cookies.get(COUNTER_COOKIE)
    if counter:
        return RedirectResponse(f"{BASE}/counter/{counter}", status_code=303)
    if staff.role in MANAGER_ROLES:
        return RedirectResponse(f"{BASE}/manager", status_code=303)
    return _signin_redirect()


def _office_choice(request: Request) -> list[tuple[str, str]] | None:
    """(id, name) of every office here when there are several and none is chosen yet, else ``None``."""
    offices = _offices(request)
    if len(offices) < 2 or (_chosen_office(request) is not None and "choose" not in request.query_params):
        return None
    lang = _lang(request)
    return [(oid, str(svc.config.office.names.get(lang))) for oid, svc in offices.items()]


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    t = catalog(_lang(request))
    choice = _office_choice(request)
    if choice is not None:  # several offices: which one first, then that office's counters
        return _page(request, "offices.html", _context(request, None, title=t["choose_office"], offices=choice))
    office = _chosen_office(request) if len(_offices(request)) > 1 else None
    response = _page(request, "signin.html", _context(request, None, title=t["sign_in"], error=None, username=None,
                                                      counter=request.cookies.get(COUNTER_COOKIE), office=office))
    if office is not None:  # the language links keep the office chosen
        response.set_cookie(OFFICE_COOKIE, office, max_age=365 * 86400, samesite="strict", path=BASE)
    return response


@router.post("/signin")
def signin(request: Request, username: str = Form(...), password: str = Form(...), counter: str = Form(""),
           lang: str = Form(""), office: str = Form("")) -> Response:
    if office in _offices(request):
        request.state.office = office  # the form's office, for this request's service and pages
    service = _service(request)
    several = len(_offices(request)) > 1
    lang = pick_language(lang or None, _lang(request))
    t = catalog(lang)
    username = username.strip().lower()

    def again(error: str, status: int) -> Response:
        ctx = _context(request, None, title=t["sign_in"], error=error, username=username, counter=counter,
                       office=service.office if several else None)
        ctx.update(lang=lang, t=t)
        return _page(request, "signin.html", ctx, status)

    try:
        token, account, expires = auth.login(service.store, username, password, _now(service))
    except ServiceError as exc:
        if exc.status in (429, 503):  # locked after wrong passwords, or too many signing in at once
            return again(_error_text(request, t, exc), exc.status)
        return again(t["error_bad_credentials"], 401)
    if several and office not in _offices(request):
        return RedirectResponse(f"{BASE}/signin", status_code=303)  # no office chosen: choose one first
    if not account.may_act_on(service.office):
        service.store.drop_session(token)  # signed in for nothing: leave no live session behind
        region = getattr(request.app.state, "region", None)
        if (region is not None and not any(account.may_act_on(o) for o in _offices(request))
                and any(account.may_act_on(o.id) for o in region.file.offices)):
            return again(t["error_office_remote"], 403)  # their office runs its own server (issue 21)
        return again(t["error_office_forbidden"], 403)
    if counter == "none":  # "hall manager (no counter)", chosen on purpose (never the form's default)
        counter = ""
        if account.role not in MANAGER_ROLES:
            return again(t["error_counter_required"], 422)
    if counter:
        if account.role not in COUNTER_ROLES:
            return again(t["error_forbidden"], 403)
        try:
            service.counter_action(command_id=f"panel-signin-{uuid.uuid4().hex}", counter=counter,
                                   action=CounterAction.SIGN_IN, source=f"panel:{account.username}",
                                   operator=account.username, authenticated=True)
        except ServiceError as exc:
            return again(_error_text(request, t, exc), exc.status)
        target = f"{BASE}/counter/{counter}"
    elif account.role in MANAGER_ROLES or account.role == "admin":
        target = f"{BASE}/manager"
    else:  # an operator works at a counter: the form has no default, so say what is missing
        return again(t["error_counter_required"], 422)
    response = RedirectResponse(target, status_code=303)
    max_age = max(60, int((expires - _now(service)).total_seconds()))
    response.set_cookie(TOKEN_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path=BASE)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    if counter:
        response.set_cookie(COUNTER_COOKIE, counter, max_age=max_age, samesite="strict", path=BASE)
    else:
        response.delete_cookie(COUNTER_COOKIE, path=BASE)
    if several:
        response.set_cookie(OFFICE_COOKIE, service.office, max_age=max_age, samesite="strict", path=BASE)
    return response


@router.post("/signout")
def signout(request: Request, confirm: str = Form(""), lang: str = Form("")) -> Response:
    """Leave the panel and the counter. With a visitor still called or served there, first a warning page
    (finish the visit, or confirm: the visitor goes back to the queue); the web session ends only once
    the counter is really signed out."""
    service = _service(request)
    staff = _staff(request)
    t = catalog(pick_language(lang or None, _lang(request)))
    if staff is not None:
        cookie = request.cookies.get(COUNTER_COOKIE)
        ids = [c.id for c in service.config.counters]
        here = [cid for cid in ([cookie] if cookie in ids else []) + ids
                if service.counter_state(cid).operator == staff.username][:1]
        for counter in here:
            state: CounterState = service.counter_state(counter)
            if state.ticket is not None and confirm != "return":
                return _signout_warning(request, staff, state, None)
            try:
                # Leaving the panel leaves the counter: a pad with nobody signed in calls nobody.
                service.counter_action(command_id=f"panel-signout-{uuid.uuid4().hex}", counter=counter,
                                       action=CounterAction.SIGN_OUT, source=f"panel:{staff.username}",
                                       operator=staff.username, authenticated=True,
                                       return_visitor=confirm == "return")
            except ServiceError as exc:
                return _signout_warning(request, staff, service.counter_state(counter), _error_text(request, t, exc))
    token = request.cookies.get(TOKEN_COOKIE)
    if token:
        service.store.drop_session(token)
    response = _signin_redirect()
    response.delete_cookie(TOKEN_COOKIE, path=BASE)
    response.delete_cookie(COUNTER_COOKIE, path=BASE)
    response.delete_cookie(OFFICE_COOKIE, path=BASE)
    return response


def _signout_warning(request: Request, staff: StaffAccount, state: CounterState, error: str | None) -> Response:
    """The operator is still signed in at ``state``'s counter: say why, offer to return the visitor and leave."""
    ctx = _context(request, staff, title=catalog(_lang(request))["sign_out"], state=state, error=error)
    return _page(request, "signout.html", ctx, status=409)


# --- the counter page ----------------------------------------------------------------------------------

def _counter_ctx(request: Request, staff: StaffAccount, counter: str, flash: dict[str, str] | None) -> dict[str, Any]:
    service = _service(request)
    try:
        state = service.counter_state(counter)
    except (KeyError, ServiceError) as exc:
        raise HTTPException(404, f"no counter {counter!r}") from exc
    waiting: list[TicketInfo] = service.waiting_list(counter)
    t = catalog(_lang(request))
    return _context(request, staff, title=f"{t['counter']} {state.number}", state=state, waiting=waiting,
                    flash=flash, transfer_targets=_transfer_targets(service, state),
                    documents_ticket=_documents_ticket(request, state))


def _documents_ticket(request: Request, state: CounterState) -> TicketInfo | None:
    """The ticket the "Documents ready" button marks: the one at the counter, else the one just finished here;
    None (no button) where the office sends no messages. The button shows whether or not the visitor left a
    contact: a clerk pressing it for one who did not is told so, rather than wondering where the button went."""
    notifiers = getattr(request.app.state, "notifiers", {}) or {}
    notifier = notifiers.get(_service(request).office)
    if notifier is None or not notifier.enabled:
        return None
    if state.ticket is not None:
        return state.ticket
    if state.rateable_ticket is None:
        return None
    try:
        return _service(request).ticket(state.rateable_ticket)
    except ServiceError:
        return None


def _transfer_targets(service: Any, here: CounterState) -> Any:
    """``targets(ticket)``: (counter, the services it serves) for every other open counter; the page shows
    those serving the transfer's target service (``data-serves``), which the person may still change."""
    open_ids = {c.id for c in service.config.counters
                if c.id != here.counter and service.counter_state(c.id).status != "closed"}

    def targets(ticket: TicketInfo) -> list[tuple[Any, list[str]]]:
        return [(c, [s.id for s in c.services]) for c in service.config.counters
                if c.id in open_ids and c.id != ticket.counter and c.services]

    return targets


def _send_targets(service: Any, states: list[CounterState]) -> Any:
    """``targets(ticket, to_service=None)``: the open counters (not this ticket's own) that serve the
    ticket's service, or ``to_service`` when a transfer changes it: only those may take it."""
    open_ids = {s.counter for s in states if s.status != "closed"}

    def targets(ticket: TicketInfo, to_service: str | None = None) -> list[Any]:
        wanted = to_service or ticket.service
        return [c for c in service.config.counters if c.id in open_ids and c.id != ticket.counter
                and c.weight_for(wanted) is not None]

    return targets


@router.get("/counter/{counter}", response_class=HTMLResponse)
def counter_page(request: Request, counter: str) -> Response:
    staff = _guard(request, COUNTER_ROLES)
    if isinstance(staff, Response):
        return staff
    return _page(request, "counter.html", _counter_ctx(request, staff, counter, None))


@router.get("/counter/{counter}/live", response_class=HTMLResponse)
def counter_live(request: Request, counter: str) -> Response:
    staff = _guard(request, COUNTER_ROLES)
    if isinstance(staff, Response):
        return staff
    return _page(request, "_counter.html", _counter_ctx(request, staff, counter, None))


def _delay_s(delay_min: str) -> int | None:
    """The postpone field in seconds (None when empty); ValueError unless it is 0 to MAX_DELAY_MIN minutes."""
    if not delay_min.strip():
        return None
    minutes = float(delay_min)  # "inf" and "nan" parse: refused below with the rest
    if not (math.isfinite(minutes) and 0 <= minutes <= MAX_DELAY_MIN):
        raise ValueError(f"not a postpone delay: {delay_min!r}")
    return round(minutes * 60)


@router.post("/counter/{counter}/action")
def counter_act(request: Request, counter: str, command_id: str = Form(...), action: str = Form(...),
                result: str = Form(""), to_service: str = Form(""), to_counter: str = Form(""),
                return_after: str = Form(""), delay_min: str = Form(""), pause_reason: str = Form(""),
                lang: str = Form("")) -> Response:
    staff = _guard(request, COUNTER_ROLES)
    if isinstance(staff, Response):
        return staff
    service = _service(request)
    t = catalog(pick_language(lang or None, _lang(request)))
    flash: dict[str, str]
    try:
        delay_s = _delay_s(delay_min)
    except ValueError:
        flash = {"kind": "error", "text": t["error_bad_delay"]}
        name = "_counter.html" if _wants_fragment(request) else "counter.html"
        return _page(request, name, _counter_ctx(request, staff, counter, flash), status=422)
    try:
        act = CounterAction(action)
        if act in (CounterAction.RATE, CounterAction.SIGN_IN):
            raise HTTPException(422, f"{action} is not a panel action")
        outcome = service.counter_action(
            command_id=f"panel-{command_id}"[:64], counter=counter, action=act, source=f"panel:{staff.username}",
            operator=staff.username, result=result.strip() or None, to_service=to_service or None,
            to_counter=to_counter or None, return_after=bool(return_after), delay_s=delay_s,
            pause_reason=pause_reason or None, authenticated=True)
        if outcome.status == "empty":
            flash = {"kind": "info", "text": t["error_queue_empty"]}
        else:
            label = f" · {outcome.ticket.label}" if outcome.ticket is not None else ""
            flash = {"kind": "ok", "text": f"{t[act.value]}{label}: {t['ok']}"}
    except ValueError:
        flash = {"kind": "error", "text": t["error_generic"]}
    except ServiceError as exc:
        flash = {"kind": "error", "text": _error_text(request, t, exc)}
    if not _wants_fragment(request):
        return RedirectResponse(f"{BASE}/counter/{counter}", status_code=303)
    return _page(request, "_counter.html", _counter_ctx(request, staff, counter, flash))


@router.post("/counter/{counter}/documents-ready")
def counter_documents_ready(request: Request, counter: str, ticket_id: str = Form(..., max_length=40),
                            lang: str = Form("")) -> Response:
    """Issue 19: the clerk says the visitor's documents are ready; the REST endpoint's code tells each contact
    once (pressing it twice tells nobody twice, so it needs no command id)."""
    staff = _guard(request, COUNTER_ROLES)
    if isinstance(staff, Response):
        return staff
    service = _service(request)
    t = catalog(pick_language(lang or None, _lang(request)))
    try:
        label = service.ticket(ticket_id).label
        contacts, queued = notifier_for(request, service.office).documents_ready(ticket_id)
        key = "documents_ready_no_contact" if not contacts else "documents_ready_sent" if queued else \
            "documents_ready_again"
        flash = {"kind": "ok" if contacts else "info", "text": t[key].format(ticket=label)}
    except ServiceError as exc:
        flash = {"kind": "error", "text": _error_text(request, t, exc)}
    if not _wants_fragment(request):
        return RedirectResponse(f"{BASE}/counter/{counter}", status_code=303)
    return _page(request, "_counter.html", _counter_ctx(request, staff, counter, flash))


# --- the hall manager ------------------------------------------------------------------------------------

def _manager_ctx(request: Request, staff: StaffAccount, flash: dict[str, str] | None) -> dict[str, Any]:
    service = _service(request)
    t = catalog(_lang(request))
    states: list[CounterState] = [service.counter_state(c.id) for c in service.config.counters]
    movable: list[TicketInfo] = [s.ticket for s in states if s.ticket is not None]
    if hasattr(service, "send_to_counter"):
        # One pass over the office, longest wait first (never each counter's calling order: at thousands
        # waiting that took seconds under the office lock and stalled ticket issue; bench/manager_page.py).
        seen = {m.ticket_id for m in movable}
        movable.extend(w for w in service.waiting_overview(MOVABLE_MAX) if w.ticket_id not in seen)
    devices = device_report(request, service.office)
    return _context(request, staff, title=t["manager_title"], load=service.load(), counter_states=states,
                    signed_in_since=_signed_in_since(service, states),
                    movable=movable, flash=flash, devices=devices, send_targets=_send_targets(service, states),
                    offered_versions=offered_versions(request, devices.nodes),
                    bookings=service.appointments_on(service.now().astimezone(service.config.office.tz).date()),
                    closing=service.closing_rule() if hasattr(service, "closing_rule") else None)


SIGN_IN_LOOKBACK = dt.timedelta(hours=36)  # a shift longer than this shows no sign-in time, only its state


def _signed_in_since(service: Any, states: list[CounterState]) -> dict[str, dt.datetime]:
    """When the operator now at each counter signed in there (a counter's ``updated_at`` is its last change:
    a call, a pause). Read from the event log's sign-ins and sign-outs of the last hours, in order: a
    repeated sign-in by the same person keeps the first time; a sign-out (or a move away) ends it."""
    e = schema.events
    since = _now(service) - SIGN_IN_LOOKBACK
    with service.store.reading() as conn:
        rows = conn.execute(
            select(e.c.kind, e.c.counter, e.c.operator, e.c.at)
            .where(e.c.office == service.office, e.c.at >= since,
                   e.c.kind.in_((EventKind.OPERATOR_SIGNED_IN.value, EventKind.OPERATOR_SIGNED_OUT.value)))
            .order_by(e.c.seq)).all()
    held: dict[str, tuple[str, dt.datetime]] = {}
    for kind, counter, operator, at in rows:
        if kind == EventKind.OPERATOR_SIGNED_OUT.value:
            held.pop(counter, None)
        elif held.get(counter, ("", at))[0] != operator:
            held[counter] = (operator, at)
    return {s.counter: held[s.counter][1] for s in states
            if s.operator and s.counter in held and held[s.counter][0] == s.operator}


@router.get("/manager", response_class=HTMLResponse)
def manager_page(request: Request) -> Response:
    staff = _guard(request, MANAGER_ROLES)
    if isinstance(staff, Response):
        return staff
    return _page(request, "manager.html", _manager_ctx(request, staff, None))


@router.get("/manager/live", response_class=HTMLResponse)
def manager_live(request: Request) -> Response:
    staff = _guard(request, MANAGER_ROLES)
    if isinstance(staff, Response):
        return staff
    return _page(request, "_manager.html", _manager_ctx(request, staff, None))


def _manager_action(request: Request, lang: str, act: Callable[[Any, StaffAccount, Catalog], str]) -> Response:
    """One hall-manager action: the role check, the manager's language, ``act`` (its answer line on
    success, a refusal in the manager's words otherwise), then the page or its fragment."""
    staff = _guard(request, MANAGER_ROLES)
    if isinstance(staff, Response):
        return staff
    t = catalog(pick_language(lang or None, _lang(request)))
    try:
        flash = {"kind": "ok", "text": act(_service(request), staff, t)}
    except ServiceError as exc:
        flash = {"kind": "error", "text": _error_text(request, t, exc)}
    if not _wants_fragment(request):
        return RedirectResponse(f"{BASE}/manager", status_code=303)
    return _page(request, "_manager.html", _manager_ctx(request, staff, flash))


@router.post("/manager/issue")
def manager_issue(request: Request, command_id: str = Form(...), service: str = Form(...),
                  purpose: str = Form("consult"), priority: str = Form(""), language: str = Form("uk"),
                  lang: str = Form("")) -> Response:
    def act(svc: Any, staff: StaffAccount, t: Catalog) -> str:
        ticket: TicketInfo = svc.issue_ticket(command_id=f"panel-{command_id}"[:64], source=f"panel:{staff.username}",
                                              service=service, purpose=purpose, priority=priority or None,
                                              language=language)
        return f"{t['issued']}: {ticket.label}"

    return _manager_action(request, lang, act)


@router.post("/manager/send")
def manager_send(request: Request, command_id: str = Form(...), ticket_id: str = Form(...),
                 to_counter: str = Form(...), lang: str = Form("")) -> Response:
    """Send a ticket to another counter: a called or served one through its counter's transfer, a waiting one reserved."""
    def act(svc: Any, staff: StaffAccount, t: Catalog) -> str:
        at = next((c.id for c in svc.config.counters
                   if (s := svc.counter_state(c.id)).ticket is not None and s.ticket.ticket_id == ticket_id), None)
        if at is not None:
            outcome = svc.counter_action(command_id=f"panel-{command_id}"[:64], counter=at,
                                         action=CounterAction.TRANSFER, source=f"panel:{staff.username}",
                                         operator=staff.username, to_counter=to_counter, authenticated=True)
            label = outcome.ticket.label if outcome.ticket is not None else ""
        else:
            moved = svc.send_to_counter(command_id=f"panel-{command_id}"[:64], ticket_id=ticket_id,
                                        to_counter=to_counter, source=f"panel:{staff.username}",
                                        operator=staff.username)
            label = moved.label
        return f"{t['sent']}: {label}"

    return _manager_action(request, lang, act)


@router.post("/manager/cancel")
def manager_cancel(request: Request, command_id: str = Form(...), ticket_id: str = Form(...),
                   lang: str = Form("")) -> Response:
    """Remove a ticket: the visitor left (``OfficeService.cancel_ticket``)."""
    def act(svc: Any, staff: StaffAccount, t: Catalog) -> str:
        gone: TicketInfo = svc.cancel_ticket(command_id=f"panel-{command_id}"[:64], ticket_id=ticket_id,
                                             source=f"panel:{staff.username}", operator=staff.username)
        return f"{t['cancelled']}: {gone.label}"

    return _manager_action(request, lang, act)


@router.post("/manager/counter")
def manager_counter(request: Request, command_id: str = Form(...), counter: str = Form(...), do: str = Form(...),
                    lang: str = Form("")) -> Response:
    """Close a counter (its operator is signed out; it calls nobody) or open it again."""
    def act(svc: Any, staff: StaffAccount, t: Catalog) -> str:
        if do not in ("close", "open"):
            raise HTTPException(422, "do is close or open")
        method = svc.close_counter if do == "close" else svc.open_counter
        state: CounterState = method(command_id=f"panel-{command_id}"[:64], counter=counter,
                                     source=f"panel:{staff.username}", operator=staff.username)
        return str(t["counter_closed_done" if do == "close" else "counter_opened_done"]).format(counter=state.number)

    return _manager_action(request, lang, act)


@router.post("/manager/move")
def manager_move(request: Request, command_id: str = Form(...), operator: str = Form(...),
                 to_counter: str = Form(...), lang: str = Form("")) -> Response:
    """Move an operator to another counter: signed in there, signed out where they were (one person, one counter)."""
    def act(svc: Any, staff: StaffAccount, t: Catalog) -> str:
        outcome = svc.counter_action(command_id=f"panel-{command_id}"[:64], counter=to_counter,
                                     action=CounterAction.SIGN_IN, source=f"panel:{staff.username}",
                                     operator=operator, authenticated=True)
        who = outcome.counter.operator_name or operator
        return f"{t['moved']}: {who} → {t['counter']} {outcome.counter.number}"

    return _manager_action(request, lang, act)


# --- live updates -----------------------------------------------------------------------------------------

class ChangeHub:
    """Fans the service's change notifications out to every open event stream.

    The service calls listeners from whichever thread applied the change (a request thread,
    the MQTT bridge): each stream's queue is filled through its own event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = set()

    def __call__(self, change: Any) -> None:
        counters = sorted({s.counter for s in getattr(change, "counter_states", []) or []})
        data = json.dumps({"counters": counters, "hall": getattr(change, "hall_state", None) is not None})
        with self._lock:
            streams = list(self._streams)
        for loop, queue in streams:
            with contextlib.suppress(RuntimeError):  # a loop that has just closed
                loop.call_soon_threadsafe(queue.put_nowait, data)

    def open(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[str](maxsize=1000))
        with self._lock:
            self._streams.add(entry)
        return entry

    def close(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]) -> None:
        with self._lock:
            self._streams.discard(entry)

    @property
    def listeners(self) -> int:
        return len(self._streams)


_hub_lock = threading.Lock()


def hub_for(request: Request) -> ChangeHub:
    """The office's hub, registered with its service on first use (``state.panel_hub``: the first
    office's; the others' in ``state.panel_hubs`` on a server that runs several)."""
    state = request.app.state
    service = _service(request)
    first = service is getattr(state, "service", None)
    with _hub_lock:
        hubs: dict[str, ChangeHub] = getattr(state, "panel_hubs", None) or {}
        hub: ChangeHub | None = getattr(state, "panel_hub", None) if first else hubs.get(service.office)
        if hub is None:
            hub = ChangeHub()
            service.add_listener(hub)
            bridges = getattr(state, "bridges", None) or {}
            bridge = bridges.get(service.office) or (getattr(state, "bridge", None) if first else None)
            if bridge is not None:  # a printer out of paper, a node gone: the manager's page refreshes
                bridge.add_device_listener(lambda: hub(None))
            if first:
                state.panel_hub = hub
            else:
                state.panel_hubs = {**hubs, service.office: hub}
    return hub


@router.get("/events")
async def events(request: Request) -> Response:
    staff = await asyncio.to_thread(_staff, request)
    if staff is None:
        return Response(status_code=401)
    hub = hub_for(request)
    entry = hub.open()
    loop = asyncio.get_running_loop()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\nevent: hello\ndata: {}\n\n"
            deadline = loop.time() + EVENT_STREAM_MAX_S
            while loop.time() < deadline:
                try:
                    data = await asyncio.wait_for(entry[1].get(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                while not entry[1].empty():  # a burst of changes is one refresh
                    data = entry[1].get_nowait()
                yield f"event: change\ndata: {data}\n\n"
        finally:
            hub.close(entry)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/static/vendor/{name}")
def vendor_static(name: str) -> Response:
    """Vendored front-end libraries: served from here, never from a CDN (offices have no internet)."""
    if name not in VENDOR_FILES:
        raise HTTPException(404)
    return FileResponse(HERE / "static" / "vendor" / name, media_type=VENDOR_FILES[name],
                        headers={"Cache-Control": "max-age=300"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(404)
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "max-age=300"})
