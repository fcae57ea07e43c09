"""The notification pages and endpoints (``router``, included by :func:`cherga.server.app.create_app`).

* ``GET /t/{token}/notify`` — the contact form for one ticket (the live ticket page links here):
  channel, address, the consent checkbox with the consent text, in the ticket's language (switchable).
  Server-rendered, no script; works at 360 px. ``POST`` the same path saves it.
  CSRF: the form carries a token signed with this server's secret and bound to the ticket, and a
  post whose ``Origin`` is another site is refused; what the citizen typed is shown again on a refusal.
* ``POST /api/v1/tickets/{token}/contacts`` — the same for apps and the kiosk: ``{"channel", "address",
  "consent": true, "language"?}``.
* ``POST /api/v1/offices/{office}/appointments/{code}/contacts`` — a booking's contact: the
  confirmation goes at once, reminders a day and an hour before the slot.
* ``POST /api/v1/offices/{office}/tickets/{ticket_id}/documents-ready`` — staff (hall manager or
  operator) say the documents are ready: the ticket's contacts are told once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from cherga.broker_bridge.contract import LANGUAGES, Lang
from cherga.server import auth
from cherga.server.api.deps import ServiceDep, StaffDep
from cherga.server.errors import Invalid, NotFound, ServiceError
from cherga.server.notify import texts
from cherga.server.notify.contacts import ContactRefused
from cherga.server.notify.engine import Notifier

router = APIRouter()
_templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
_FORM_TTL_S = 6 * 3600
# One secret per server process (or CHERGA_FORM_SECRET for several behind one address).
_SECRET = os.environ.get("CHERGA_FORM_SECRET", "").encode() or secrets.token_bytes(32)


def notifier_for(request: Request, office: str | None = None) -> Notifier:
    notifiers: dict[str, Notifier] = getattr(request.app.state, "notifiers", {}) or {}
    found = notifiers.get(office) if office else next(iter(notifiers.values()), None)
    if found is None:
        raise NotFound("notifications_off", "notifications are not running on this server")
    return found


def _form_token(ticket_token: str, now: float | None = None) -> str:
    ts = str(int(now if now is not None else time.time()))
    mac = hmac.new(_SECRET, f"{ts}:{ticket_token}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{ts}.{mac}"


def _form_token_ok(ticket_token: str, value: str) -> bool:
    ts, _, mac = value.partition(".")
    if not ts.isdigit() or time.time() - int(ts) > _FORM_TTL_S:
        return False
    return hmac.compare_digest(_form_token(ticket_token, int(ts)).partition(".")[2], mac)


def _same_site(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None  # an opaque origin ("null") is refused; no header at all is an old browser
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _page(request: Request, notifier: Notifier, token: str, lang: str | None, *, status: int = 200,
          error: str | None = None, saved: bool = False, form: dict[str, Any] | None = None) -> HTMLResponse:
    from cherga.server.mirror.i18n import LANGUAGE_NAMES

    info = notifier.service.ticket_status(token[:64])
    office = notifier.config.office
    language = lang if lang in LANGUAGES else info.language
    t = texts.catalog(language)
    ctx = {"request": request, "t": t, "lang": language, "token": token, "label": info.label,
           "office_name": office.names.get(language), "channels": notifier.enabled,
           "consent": texts.consent_text(language, office=office.names.get(language),
                                         days=notifier.cfg.retention_days),
           "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
           "csrf": _form_token(token), "error": error, "saved": saved, "form": form or {},
           "closed": info.status in ("cancelled", "no_show")}
    return _templates.TemplateResponse(request, "notify.html", ctx, status_code=status,
                                       headers={"Cache-Control": "no-store"})


@router.get("/t/{token}/notify", response_class=HTMLResponse, include_in_schema=False)
def notify_form(request: Request, token: str, lang: str | None = None) -> Response:
    try:
        return _page(request, notifier_for(request), token, lang)
    except ServiceError as exc:
        if exc.key == "unknown_ticket":
            raise NotFound("unknown_ticket", "no ticket with this link") from None
        raise


@router.post("/t/{token}/notify", response_class=HTMLResponse, include_in_schema=False)
def notify_submit(request: Request, token: str, channel: Annotated[str, Form(max_length=16)] = "",
                  address: Annotated[str, Form(max_length=254)] = "", consent: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form(max_length=80)] = "", lang: Annotated[str, Form(max_length=4)] = "") -> Response:
    notifier = notifier_for(request)
    form = {"channel": channel, "address": address, "consent": bool(consent)}
    if not _same_site(request) or not _form_token_ok(token, csrf):
        return _page(request, notifier, token, lang, status=403, error="err_form_expired", form=form)
    try:
        notifier.add_ticket_contact(token, channel=channel, address=address, consent=bool(consent),
                                    language=lang if lang in LANGUAGES else None)
    except ContactRefused as exc:
        return _page(request, notifier, token, lang, status=422, error=f"err_{exc.key}", form=form)
    except ServiceError as exc:
        if exc.key == "ticket_closed":
            return _page(request, notifier, token, lang, status=409, error="ticket_closed", form=form)
        raise
    return _page(request, notifier, token, lang, saved=True)


class ContactIn(BaseModel):
    channel: Literal["sms", "email", "telegram"]
    address: str = Field(min_length=1, max_length=254)
    consent: bool = Field(description="the citizen agreed to the consent text (texts.CONSENT_VERSION); false stores nothing")
    language: Lang | None = Field(default=None, description="the messages' language; default: the ticket's")


class ContactOut(BaseModel):
    contact_id: int
    channel: str
    consent_version: str


def _refused(exc: ContactRefused) -> Invalid:
    return Invalid(exc.key, str(exc))


@router.post("/api/v1/tickets/{token}/contacts", status_code=201, response_model=ContactOut, tags=["notifications"],
             summary="Leave a contact (with consent) for a ticket's notifications")
def add_ticket_contact(request: Request, token: Annotated[str, PathParam(max_length=64)], body: ContactIn) -> ContactOut:
    try:
        ref = notifier_for(request).add_ticket_contact(token, channel=body.channel, address=body.address,
                                                       consent=body.consent, language=body.language)
    except ContactRefused as exc:
        raise _refused(exc) from None
    return ContactOut(contact_id=ref.id, channel=ref.channel, consent_version=texts.CONSENT_VERSION)


@router.post("/api/v1/offices/{office}/appointments/{code}/contacts", status_code=201, response_model=ContactOut,
             tags=["notifications"], summary="Leave a contact (with consent) for a booking: confirmation and reminders")
def add_booking_contact(request: Request, svc: ServiceDep, code: Annotated[str, PathParam(min_length=4, max_length=32)],
                        body: ContactIn) -> ContactOut:
    try:
        ref = notifier_for(request, svc.office).add_booking_contact(
            code, channel=body.channel, address=body.address, consent=body.consent,
            language=body.language or svc.config.office.languages[0])
    except ContactRefused as exc:
        raise _refused(exc) from None
    return ContactOut(contact_id=ref.id, channel=ref.channel, consent_version=texts.CONSENT_VERSION)


class DocumentsReady(BaseModel):
    contacts: int = Field(description="contacts the ticket has (0: nobody to tell)")
    queued: int = Field(description="messages queued now (0 when already told)")


@router.post("/api/v1/offices/{office}/tickets/{ticket_id}/documents-ready", status_code=202,
             response_model=DocumentsReady, tags=["notifications"],
             summary="Staff: the ticket's documents are ready; its contacts are told once")
def documents_ready(request: Request, svc: ServiceDep, account: StaffDep,
                    ticket_id: Annotated[str, PathParam(max_length=40)]) -> DocumentsReady:
    auth.require_role(account, "hall_manager", "operator")
    contacts, queued = notifier_for(request, svc.office).documents_ready(ticket_id)
    return DocumentsReady(contacts=contacts, queued=queued)


# --- the booking page's optional contact (server.mirror.booking calls these) -------------------------

def booking_contact_fields(request: Request, office: str, lang: str, typed: dict[str, str] | None = None) -> str:
    """The optional contact block of the booking form (empty where the office sends nothing)."""
    notifiers: dict[str, Notifier] = getattr(request.app.state, "notifiers", {}) or {}
    notifier = notifiers.get(office)
    if notifier is None or not notifier.enabled:
        return ""
    typed = typed or {}
    t = texts.catalog(lang)
    office_name = notifier.config.office.names.get(lang)
    options = "".join(
        f"<option value='{ch}'{' selected' if typed.get('channel') == ch else ''}>{escape(t['channel_' + ch])}</option>"
        for ch in notifier.enabled)
    consent = texts.consent_text(lang, office=office_name, days=notifier.cfg.retention_days)
    checked = " checked" if typed.get("consent") else ""
    return (f"<fieldset class=contact><legend>{escape(t['page_title'])}</legend>"
            f"<label for=contact_channel>{escape(t['channel'])}</label> "
            f"<select id=contact_channel name=contact_channel style='font:inherit;min-height:44px'>{options}</select>"
            f"<br><label for=contact_address>{escape(t['address'])}</label><br>"
            f"<input id=contact_address name=contact_address maxlength=254 autocomplete=off "
            f"value='{escape(typed.get('address', ''))}' style='font:inherit;min-height:44px;width:100%'>"
            f"<br><input type=checkbox id=contact_consent name=contact_consent value=yes{checked} "
            f"style='width:28px;height:28px'> <label for=contact_consent>{escape(consent)}</label></fieldset>")


def booking_contact_refusal(request: Request, office: str, lang: str, channel: str, address: str,
                            consent: str) -> str | None:
    """Why the typed contact cannot be kept (in ``lang``), or None (also when none was typed)."""
    if not address.strip():
        return None
    notifiers: dict[str, Notifier] = getattr(request.app.state, "notifiers", {}) or {}
    notifier = notifiers.get(office)
    if notifier is None:
        return None
    from cherga.server.notify.contacts import normalise

    try:
        normalise(channel, address, enabled=notifier.enabled, consent=bool(consent))
    except ContactRefused as exc:
        return texts.catalog(lang)[f"err_{exc.key}"]
    return None


def save_booking_contact(request: Request, office: str, code: str, lang: str, channel: str, address: str,
                         consent: str) -> None:
    """Keep a checked contact for the new booking: its confirmation goes now, reminders later."""
    if not address.strip():
        return
    notifier_for(request, office).add_booking_contact(code, channel=channel, address=address, consent=bool(consent),
                                                      language=lang)
