"""Routes of the live ticket page: the page, its live part, its event stream, the rating, its files.

* ``GET /t/{token}`` — the page, in the ticket's language (``?lang=`` switches). An unknown token
  gets a page in the browser's language with the way back (404), never JSON.
* ``GET /t/{token}/live`` — the live part as JSON ``{html, state, alert, final, updated}``: what
  the page polls when server-sent events fail.
* ``GET /t/{token}/events`` — server-sent events: ``update`` with the same JSON whenever what the
  page shows changed, ``end`` once nothing will change any more, keep-alive comments between.
* ``POST /t/{token}/rate`` — the rating after service (``score`` 1 = best, as on the pads), through
  the same rate command the pads send, so it lands in the same ratings store.

The event streams must never hold up the queue. There is one stream per open page, fed by a
:class:`TicketHub` (the operator panel's change-hub mechanism: the service's change notification
fanned out to event loops) that also names the tickets a change moved. Only the page of a ticket a
change names re-reads its ticket (from the store, outside the office lock) at once; for the other
pages whose service's counters were touched, the forecast (which takes the office lock) is
recomputed once its gap of :data:`ESTIMATE_GAP_S` seconds is over, and every :data:`REFRESH_S`
seconds while the ticket waits. At most :data:`STREAMS_MAX` streams are open at once
(``CHERGA_TICKET_STREAMS_MAX``); beyond that the server answers 503 and the page polls instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import html
import io
import json
import os
import random
import re
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.core.tickets import Ticket
from cherga.server.db import schema
from cherga.server.errors import NotFound, ServiceError
from cherga.server.panel.error_page import page_language
from cherga.server.ticketpage.i18n import catalog
from cherga.server.ticketpage.words import RATING_SCORES, ViewState, ticket_view

HERE = Path(__file__).resolve().parent
STATIC_FILES = {"ticket.css": "text/css", "ticket.js": "text/javascript"}
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # what secrets.token_urlsafe makes; anything else is unknown
NOTIFY_PATH = "/t/{token}/notify"  # the notifications' contact form (server/notify), linked when it exists
BOOK_PATH = "/office/{office}/book"  # the citizens' booking page (server/mirror), offered when calls stopped
STREAMS_MAX = int(os.environ.get("CHERGA_TICKET_STREAMS_MAX", "500") or 500)
STREAM_MAX_S = 300.0  # the browser reconnects by itself; no stream lives forever
KEEPALIVE_S = 15.0
REFRESH_S = 30.0  # a waiting ticket's forecast moves with time alone: refresh it this often
ESTIMATE_GAP_S = 5.0  # per page, the forecast (under the office lock) is recomputed at most this often
BURST_S = 0.1  # changes arriving together (a call updates several counters) are one update
POLL_S, POLL_MIN_S, POLL_MAX_S = 10, 2, 60  # the fallback's polling period (``?poll=`` in seconds)

router = APIRouter(include_in_schema=False, tags=["tickets"])
templates = Jinja2Templates(directory=str(HERE / "templates"))


class StreamGate:
    """How many live ticket streams are open; refuses more than ``limit`` (the page then polls)."""

    def __init__(self, limit: int = STREAMS_MAX) -> None:
        self.limit = limit
        self.open = 0

    def full(self) -> bool:
        return self.open >= self.limit


def gate_for(app: Any) -> StreamGate:
    gate: StreamGate | None = getattr(app.state, "ticket_streams", None)
    if gate is None:
        gate = StreamGate()
        app.state.ticket_streams = gate
    return gate


Touch = tuple[frozenset[str], frozenset[str]]  # (counters, tickets) a change names


class TicketHub:
    """The service's change notifications, fanned out to each open stream's event loop.

    The operator panel's :class:`~cherga.server.panel.routes.ChangeHub` pattern (a listener the
    service calls from whichever thread applied the change; each stream's queue filled through its own
    loop), carrying also the tickets a change names (at a counter, or just finished there): a page
    whose ticket is not named reads nothing until its forecast is due, so a call costs one read for
    the called ticket's page, not one per open page.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[asyncio.AbstractEventLoop, set[asyncio.Queue[Touch]]] = {}

    def __call__(self, change: Any) -> None:
        # Called inside the service's call (a pad's "next"): one wake-up per event loop, never one per page.
        states = getattr(change, "counter_states", None) or []
        counters = frozenset(s.counter for s in states)
        tickets = frozenset(t for s in states
                            for t in (s.ticket.ticket_id if s.ticket is not None else None, s.rateable_ticket) if t)
        with self._lock:
            loops = [(loop, list(queues)) for loop, queues in self._streams.items() if queues]
        for loop, queues in loops:
            with contextlib.suppress(RuntimeError):  # a loop that has just closed
                loop.call_soon_threadsafe(_offer, queues, (counters, tickets))

    def open(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Touch]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Touch](maxsize=100))
        with self._lock:
            self._streams.setdefault(entry[0], set()).add(entry[1])
        return entry

    def close(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Touch]]) -> None:
        with self._lock:
            queues = self._streams.get(entry[0])
            if queues is not None:
                queues.discard(entry[1])
                if not queues:
                    del self._streams[entry[0]]


def _offer(queues: list[asyncio.Queue[Touch]], item: Touch) -> None:
    for queue in queues:
        with contextlib.suppress(asyncio.QueueFull):  # a stream this far behind re-reads anyway
            queue.put_nowait(item)


_hub_lock = threading.Lock()


def hub_for(app: Any) -> TicketHub:
    """The app's ticket hub, registered with every office's service on first use."""
    with _hub_lock:
        hub: TicketHub | None = getattr(app.state, "ticket_hub", None)
        if hub is None:
            hub = TicketHub()
            for svc in (getattr(app.state, "services", None) or {}).values():
                svc.add_listener(hub)
            app.state.ticket_hub = hub
    return hub


# --- finding the ticket and wording it ---------------------------------------------------------------

@dataclasses.dataclass
class Found:
    service: Any  # the OfficeService holding the ticket
    info: Any  # TicketInfo (public)
    ticket: Ticket | None


def _find(request: Request, token: str, *, estimate: bool = True, known: Found | None = None) -> Found:
    """The ticket behind ``token`` in any office served here; NotFound otherwise. ``estimate=False``
    reads only the store (no office lock) and keeps ``known``'s forecast: the cheap look between changes."""
    if not TOKEN.fullmatch(token):
        raise NotFound("unknown_ticket", "no ticket with this token")
    services = getattr(request.app.state, "services", {}) or {}
    for svc in ([known.service] if known is not None else services.values()):
        rec = svc.store.ticket_by_token(token)
        if rec is None or rec.ticket.office != svc.office:
            continue
        if not estimate and known is not None:
            status = rec.ticket.status.value
            number = svc.config.counter(rec.ticket.counter).number if rec.ticket.counter else None
            info = known.info.model_copy(update={"status": status, "service": rec.ticket.service,
                                                 "counter": rec.ticket.counter, "counter_number": number})
            if status != "waiting":
                info = info.model_copy(update={"people_ahead": None, "wait_min": None, "wait_max_min": None})
            return Found(svc, info, rec.ticket)
        return Found(svc, svc.ticket_status(token), rec.ticket)
    raise NotFound("unknown_ticket", "no ticket with this token")


def _rated(found: Found) -> bool:
    if found.info.status != "done":
        return False
    r = schema.ratings
    with found.service.store.reading() as conn:
        return conn.execute(select(r.c.ticket_id).where(r.c.ticket_id == found.info.ticket_id)).first() is not None


def _lang(request: Request, found: Found) -> str:
    asked = request.query_params.get("lang")
    return str(asked) if asked in LANGUAGES else str(found.info.language)


def _languages(found: Found) -> list[tuple[str, str]]:
    offered = [lang for lang in found.service.config.office.languages if lang in LANGUAGES]
    if found.info.language not in offered:  # the ticket's own language is always there
        offered.append(found.info.language)
    return [(lang, catalog(lang)["language_name"]) for lang in offered]


def _notify_url(request: Request, token: str, lang: str) -> str | None:
    """The notifications' form for this ticket, when that part is installed (its route exists)."""
    for route in request.app.routes:
        if getattr(route, "path", None) == NOTIFY_PATH:
            return f"/t/{token}/notify?lang={lang}"
    return None


def _view(found: Found, lang: str, *, rated: bool | None = None) -> ViewState:
    svc = found.service
    stopped = found.info.status == "waiting" and svc.calls_stopped(found.info.service)
    return ticket_view(found.info, found.ticket, svc.config, catalog(lang), lang, svc.now(),
                       rated=_rated(found) if rated is None else rated, calls_stopped=stopped)


def _book_url(found: Found, lang: str) -> str:
    """The office's booking page for the ticket's service, in the page's language."""
    return f"/office/{found.service.office}/book?lang={lang}&service={found.info.service}"


def _updated(found: Found) -> str:
    return str(found.service.now().astimezone(found.service.config.office.tz).strftime("%H:%M"))


def _live_context(token: str, lang: str, view: ViewState, found: Found, error: str | None = None) -> dict[str, Any]:
    t = catalog(lang)
    return {"t": t, "lang": lang, "token": token, "v": view, "scores": RATING_SCORES, "error": error,
            "updated": t["updated_at"].format(time=_updated(found)),
            "book_url": _book_url(found, lang) if view.offer_booking else None}


def _live_json(token: str, lang: str, view: ViewState, found: Found, error: str | None = None) -> dict[str, Any]:
    body = templates.get_template("_live.html").render(_live_context(token, lang, view, found, error))
    return {"html": body, "state": view.state, "alert": view.alert, "final": view.final,
            "updated": _updated(found)}


def _poll_s(request: Request) -> int:
    value = request.query_params.get("poll", "")
    if value.isascii() and value.isdigit() and len(value) <= 3:
        return max(POLL_MIN_S, min(POLL_MAX_S, int(value)))
    return POLL_S


# --- the page -------------------------------------------------------------------------------------------

def _unknown(request: Request) -> HTMLResponse:
    lang = page_language(request)
    t = catalog(lang)
    return templates.TemplateResponse(request, "unknown.html", {"t": t, "lang": lang}, status_code=404,
                                      headers={"Cache-Control": "no-store", "Content-Language": lang})


@router.get("/t/{token}", response_class=HTMLResponse)
def ticket_page(request: Request, token: str) -> HTMLResponse:
    """The live ticket page (the QR printed on every ticket points here)."""
    try:
        found = _find(request, token)
    except NotFound:
        return _unknown(request)
    lang = _lang(request, found)
    view = _view(found, lang)
    cfg = found.service.config
    ctx = {**_live_context(token, lang, view, found), "languages": _languages(found),
           "office_name": cfg.office.names.get(lang), "notify_url": _notify_url(request, token, lang),
           "poll_s": _poll_s(request), "base": f"/t/{token}"}
    return templates.TemplateResponse(request, "ticket.html", ctx,
                                      headers={"Cache-Control": "no-store", "Content-Language": lang,
                                               "Referrer-Policy": "no-referrer"})


@router.get("/t/{token}/live")
def ticket_live(request: Request, token: str) -> JSONResponse:
    """The live part, for the page's polling (when server-sent events are not available)."""
    found = _find(request, token)  # NotFound: the app's handler answers 404 JSON to a script
    lang = _lang(request, found)
    return JSONResponse(_live_json(token, lang, _view(found, lang), found), headers={"Cache-Control": "no-store"})


@router.post("/t/{token}/rate")
def rate(request: Request, token: str, score: str = Form(""), lang: str = Form("")) -> Response:
    """The rating after service, through the counter's rate command (one per visit, as from a pad)."""
    try:
        found = _find(request, token)
    except NotFound:
        return _unknown(request)
    lang = lang if lang in LANGUAGES else str(found.info.language)
    t = catalog(lang)
    error = None
    rated = None
    ticket = found.ticket
    if not score.isdigit() or int(score) not in RATING_SCORES or ticket is None or ticket.counter is None:
        error = t["rate_failed"]
    else:
        try:
            found.service.counter_action(
                command_id=f"ticketpage-rate-{ticket.id}"[:64], counter=ticket.counter, action=CounterAction.RATE,
                source="ticketpage", ticket_id=ticket.id, score=int(score))
            rated = True
        except ServiceError as exc:
            if exc.key == "already_rated":  # rated at the pad (or a second tap): what counts is the first
                rated = True
            else:
                error = t["rate_failed"]
    if request.headers.get("x-ticket-fragment") != "1":  # a plain form post: back to the page
        return RedirectResponse(f"/t/{token}?lang={lang}", status_code=303)
    view = _view(found, lang, rated=rated)
    return JSONResponse(_live_json(token, lang, view, found, error), status_code=200 if error is None else 409)


# --- the event stream -----------------------------------------------------------------------------------

def _relevant(found: Found) -> set[str]:
    """The counters whose changes can move this ticket: those serving its service, and its own."""
    cfg = found.service.config
    ids = {c.id for c in cfg.counters_for(found.info.service)} if found.info.service else set()
    t = found.ticket
    if t is not None:
        ids |= {c for c in (t.counter, t.target_counter, t.return_to) if c}
    return ids


def _moved(before: Ticket | None, after: Ticket | None) -> bool:
    """The ticket itself changed (status, counter, recall, service, postponement): a new forecast is due now."""
    if before is None or after is None:
        return before is not after
    key = ("status", "counter", "recalls", "service", "not_before", "target_counter", "called_at")
    return any(getattr(before, k) != getattr(after, k) for k in key)


@router.get("/t/{token}/events")
async def ticket_events(request: Request, token: str) -> Response:
    try:
        found = await asyncio.to_thread(_find, request, token)
    except NotFound:
        return Response(status_code=404)
    gate = gate_for(request.app)
    if gate.full():
        return Response(status_code=503, headers={"Retry-After": "60", "Cache-Control": "no-store"})
    lang = _lang(request, found)
    hub = hub_for(request.app)
    loop = asyncio.get_running_loop()

    async def render(now_found: Found) -> dict[str, Any]:
        view = await asyncio.to_thread(_view, now_found, lang)
        return await asyncio.to_thread(_live_json, token, lang, view, now_found)

    def digest(payload: dict[str, Any]) -> str:
        return hashlib.sha1(json.dumps({**payload, "updated": ""}, sort_keys=True).encode()).hexdigest()

    async def stream() -> AsyncIterator[str]:
        nonlocal found
        gate.open += 1
        entry = hub.open()
        queue = entry[1]
        try:
            yield "retry: 3000\n\n"
            payload = await render(found)
            last = digest(payload)
            yield f"event: update\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            # Pages opened together (a morning's tickets) would recompute together: spread them over a gap.
            estimated_at = loop.time() + random.uniform(0, ESTIMATE_GAP_S)
            pending = False  # the queue moved while the forecast was fresh: recompute it when the gap is over
            relevant = _relevant(found)
            deadline = loop.time() + STREAM_MAX_S
            final = payload["final"]
            while not final and loop.time() < deadline:
                if found.info.status == "waiting":
                    due = estimated_at + (ESTIMATE_GAP_S if pending else REFRESH_S)
                else:
                    due = deadline
                try:
                    counters, tickets = await asyncio.wait_for(
                        queue.get(), max(0.05, min(KEEPALIVE_S, due - loop.time())))
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    if loop.time() < due:
                        yield ": keepalive\n\n"
                        continue
                    full = True
                else:
                    await asyncio.sleep(BURST_S)
                    named = set(tickets)
                    touched = set(counters)
                    while not queue.empty():
                        more = queue.get_nowait()
                        touched |= more[0]
                        named |= more[1]
                    at_its_counter = found.info.status != "waiting" and bool(touched & relevant)
                    if found.info.ticket_id not in named and not at_its_counter:
                        # Somebody else moved: only the forecast changes, recomputed when its gap is over.
                        pending = pending or (found.info.status == "waiting" and bool(touched & relevant))
                        continue
                    # This ticket itself moved: its facts from the store, outside the office lock.
                    cheap = await asyncio.to_thread(_find, request, token, estimate=False, known=found)
                    full = cheap.info.status == "waiting" and _moved(found.ticket, cheap.ticket)
                    if not full:
                        found = cheap
                if full:
                    found = await asyncio.to_thread(_find, request, token)
                    estimated_at = loop.time() + random.uniform(0, ESTIMATE_GAP_S / 2)  # keep them spread
                    pending = False
                relevant = _relevant(found)
                payload = await render(found)
                final = payload["final"]
                if digest(payload) != last:
                    last = digest(payload)
                    yield f"event: update\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            if final:
                yield "event: end\ndata: {}\n\n"
        except NotFound:
            yield "event: end\ndata: {}\n\n"
        finally:
            hub.close(entry)
            gate.open -= 1

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- files ---------------------------------------------------------------------------------------------

@functools.cache
def chime_wav() -> bytes:
    """The hall display's own chime (:func:`cherga.display.voice.synth_chime`) as a WAV file."""
    from cherga.display.voice import CHANNELS, RATE, SAMPWIDTH, synth_chime

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(CHANNELS)
        w.setsampwidth(SAMPWIDTH)
        w.setframerate(RATE)
        w.writeframes(synth_chime())
    return out.getvalue()


@router.get("/ticketpage/static/chime.wav")
def chime() -> Response:
    return Response(chime_wav(), media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


@router.get("/ticketpage/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound("not_found", f"no file {html.escape(name)!r}")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC_FILES[name],
                    headers={"Cache-Control": "max-age=300"})


__all__ = ["router", "StreamGate", "gate_for"]
