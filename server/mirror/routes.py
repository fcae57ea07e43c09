"""Routes of the browser mirrors: start page, hall mirror (with its spoken calls), web kiosk.

The hall mirror speaks like the TV program: ``/office/{office}/hall/call/{call_id}.wav`` is the
chime and the call in the office's voice languages, rendered by the display's own voice code
(:mod:`cherga.display.voice`: espeak-ng fragments, office recordings first) and cached on disk.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from cherga.broker_bridge.contract import LANGUAGES
from cherga.broker_bridge.nodeconfig import notify_offer
from cherga.display.board import split_label
from cherga.display.voice import FragmentCache, announcement, compose
from cherga.i18n import browser_language
from cherga.server.errors import NotFound
from cherga.server.mirror.i18n import LANGUAGE_NAMES, catalog
from cherga.server.siteconfig import ServiceDetails, SiteConfig

router = APIRouter(include_in_schema=False)
_STATIC = Path(__file__).resolve().parent / "static"
# Where rendered fragments and calls are kept; CHERGA_VOICE_DIR holds an office's own recordings.
_VOICE_CACHE = Path(os.environ.get("CHERGA_VOICE_CACHE") or Path(tempfile.gettempdir()) / "cherga-voice-cache")
_VOICE_LOCK = threading.Lock()

def _config(request: Request, office: str) -> SiteConfig:
    svc = request.app.state.services.get(office)
    if svc is not None:
        cfg: SiteConfig = svc.config
        return cfg
    raise NotFound("unknown_office", f"office {office!r} is not served here")


def _info_json(info: ServiceDetails | None) -> dict[str, Any] | None:
    """What the web kiosk's "what do I need?" screen shows (issue 18; the full pages are server.informing)."""
    if info is None:
        return None
    texts = {k: v.as_dict() if v else {} for k, v in (("where", info.where), ("fee", info.fee),
                                                      ("duration", info.duration))}
    return {**texts, "documents": [d.as_dict() for d in info.documents]}


def _office_json(cfg: SiteConfig) -> str:
    """What the pages need about the office, as JSON embedded in the page (no personal data)."""
    data = {
        "office": cfg.office.id,
        "names": cfg.office.names.as_dict(),
        "languages": list(cfg.office.languages),
        "language_names": LANGUAGE_NAMES,
        "texts": {lang: catalog(lang) for lang in LANGUAGES},
        "services": [{"id": s.id, "prefix": s.prefix, "names": s.names.as_dict(), "purposes": list(s.purposes),
                      "appointment_only": s.appointment_only, "info": _info_json(s.info)} for s in cfg.services],
        "bundles": [{"id": b.id, "names": b.names.as_dict(), "services": list(b.services)} for b in cfg.bundles],
        "categories": [{"id": p.id, "names": p.names.as_dict()} for p in cfg.priority_categories],
        "recent_calls": cfg.display.recent_calls,
        "blink_s": cfg.display.blink_s,
        "alternate_s": 6.0,  # the TV program's default (display.board.BoardSettings.alternate_s)
        "layout": cfg.display.layout,
        "timezone": cfg.office.timezone,
        "voice_languages": list(cfg.voice.languages),
        "ticker": cfg.display.ticker.as_dict() if cfg.display.ticker else {},
        # The web kiosk's "tell me when my turn is near" (issue 19): the channels with a gateway and the
        # consent text as the server stores it; the touchscreen kiosk gets the same in its node config.
        "notify": offer.model_dump() if (offer := notify_offer(cfg)) is not None else None,
    }
    # Safe inside <script>: no "</" sequence can close the tag.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _page(name: str, cfg: SiteConfig, title: str, lang: str | None = None) -> HTMLResponse:
    body = (_STATIC / name).read_text(encoding="utf-8")
    body = body.replace("__TITLE__", html.escape(title)).replace("__OFFICE_JSON__", _office_json(cfg))
    if lang:  # the page's script sets lang as the visitor switches; the first paint already says the right one
        body = body.replace('<html lang="uk">', f'<html lang="{lang}">', 1)
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def start_language(request: Request) -> str:
    """The start page's language: ``?lang=``, else the browser's ``Accept-Language``, else the first office's first language."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return str(asked)
    browser = browser_language(request.headers.get("accept-language"), LANGUAGES)
    if browser is not None:
        return browser
    for svc in request.app.state.services.values():
        for lang in svc.config.office.languages:
            if lang in LANGUAGES:
                return str(lang)
    return "uk"


@router.get("/", response_class=HTMLResponse)
def start_page(request: Request) -> HTMLResponse:
    """Every page of each office, grouped by who needs it (visitors, staff, the hall manager, IT), in the visitor's language."""
    lang = start_language(request)
    t = catalog(lang)
    e = html.escape
    sections = []
    services = request.app.state.services
    several = len(services) > 1

    def group(title: str, links: list[tuple[str, str]]) -> str:
        return (f"<section><h3>{e(t[title])}</h3><ul>"
                + "".join(f"<li><a href='{href}'>{e(t[label])}</a></li>" for href, label in links)
                + "</ul></section>")

    for svc in services.values():
        cfg: SiteConfig = svc.config
        o = e(cfg.office.id)
        name = e(cfg.office.names.get(lang))
        # On a server with several offices (issue 21) the staff pages open on this office: the panel's
        # sign-in with the office chosen, the administration pages under /admin/office/{office}.
        panel = f"/panel/signin?office={o}" if several else "/panel/"
        groups = [
            ("start_visitors", [(f"/office/{o}/services?lang={lang}", "start_services"),
                                (f"/office/{o}/kiosk", "start_kiosk"), (f"/office/{o}/book", "start_book"),
                                (f"/load/{o}", "start_load"), (f"/office/{o}/hall", "start_hall")]),
            ("start_operators", [(panel, "start_panel")]),
            ("start_manager_group", [(panel if several else "/panel/manager", "start_manager"),
                                     (f"/reports/{o}", "start_reports"),
                                     (f"/admin/office/{o}/section/office" if several else "/admin/", "start_admin")]),
        ]
        items = "".join(group(title, links) for title, links in groups)
        # The office's name only: its id is an internal key no visitor should read.
        sections.append(f"<h2>{name}</h2><div class=roles>{items}</div>")
    # The server's own pages, once (not once per office: a regional server runs many).
    it = group("start_it", [("/docs", "start_docs"), ("/healthz", "start_health"), ("/metrics", "start_metrics")])
    sections.append(f"<div class=roles>{it}</div>")
    switch = " ".join(
        f"<a href='/?lang={code}' hreflang={code} lang={code}" + (" aria-current=true" if code == lang else "")
        + f">{e(LANGUAGE_NAMES[code])}</a>" for code in LANGUAGES)
    return HTMLResponse(
        f"<!doctype html><html lang={lang}><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><title>Cherga</title>"
        "<style>body{font:18px/1.5 system-ui,sans-serif;margin:1em;color:#1a1a1a;background:#fff}"
        ".roles{display:flex;flex-wrap:wrap;gap:1em 3em}ul{padding-left:1.2em}"
        # A list link is a block: an inline-block's baseline is its last line, so a link that wraps
        # would carry its bullet down to its second line.
        "li a{display:block;box-sizing:border-box;min-height:44px;padding:8px 0;line-height:28px;color:#0b4ea2}"
        "nav a{display:inline-block;min-height:44px;line-height:44px;color:#0b4ea2}h3{margin:.6em 0 0}"
        "nav a{margin-right:.8em}nav a[aria-current]{font-weight:bold;color:#1a1a1a}"
        "</style>"
        f"<nav aria-label='{e(t['start_language'])}'>{switch}</nav>"
        f"<main><h1>Cherga</h1><p>{e(t['start_subtitle'])}</p>{''.join(sections)}</main></html>",
        headers={"Content-Language": lang, "Vary": "Accept-Language"})


@router.get("/office/{office}/hall", response_class=HTMLResponse)
def hall_mirror(request: Request, office: str) -> HTMLResponse:
    cfg = _config(request, office)
    return _page("hall.html", cfg, cfg.office.names.get(cfg.office.languages[0]))


@router.get("/office/{office}/kiosk", response_class=HTMLResponse)
def web_kiosk(request: Request, office: str) -> HTMLResponse:
    """The web kiosk; ``?lang=`` (one of the office's languages, else ignored) starts it in that language."""
    cfg = _config(request, office)
    asked = request.query_params.get("lang")
    lang = asked if asked in cfg.office.languages else cfg.office.languages[0]
    return _page("kiosk.html", cfg, cfg.office.names.get(lang), lang)


@router.get("/office/{office}/hall/call/{call_id}.wav")
def hall_call_audio(request: Request, office: str, call_id: str) -> FileResponse:
    """The chime and the spoken call of one call on the hall's list, as the TV program says it."""
    svc = request.app.state.services.get(office)
    if svc is None:
        raise NotFound("unknown_office", f"office {office!r} is not served here")
    cfg: SiteConfig = svc.config
    call = next((c for c in svc.hall_state().calls if c.call_id == call_id), None)
    if call is None:
        raise NotFound("unknown_call", "no such call on the hall display")
    prefix, number = split_label(call.label)
    fragments = announcement(prefix, number, call.counter_number, cfg.voice.languages)
    key = hashlib.sha256(f"{[str(f) for f in fragments]}|{cfg.voice.volume}".encode()).hexdigest()[:20]
    target = _VOICE_CACHE / "calls" / f"{key}.wav"
    with _VOICE_LOCK:  # one rendering at a time: two displays asking for the same call share it
        if not target.exists():
            recorded = os.environ.get("CHERGA_VOICE_DIR")
            cache = FragmentCache(_VOICE_CACHE / "fragments", Path(recorded) if recorded else None)
            compose(fragments, cache, target, cfg.voice.volume)
    return FileResponse(target, media_type="audio/wav", headers={"Cache-Control": "max-age=3600"})


_VENDOR = _STATIC / "vendor"
_VENDOR_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@router.get("/vendor/{name}")
def vendored(name: str) -> FileResponse:
    """Front-end files vendored from npm (static/vendor/README.md): nothing is loaded from a CDN."""
    path = _VENDOR / name
    if "/" in name or name.startswith(".") or path.suffix not in _VENDOR_TYPES or not path.is_file():
        raise NotFound("not_found", f"no vendored file {name!r}")
    return FileResponse(path, media_type=_VENDOR_TYPES[path.suffix], headers={"Cache-Control": "max-age=86400"})


#: The pages' own scripts and styles (kiosk, hall mirror, /docs): files, so that their policy needs no
#: 'unsafe-inline' (server/security/middleware.py STRICT_PAGES).
_OWN_FILES = {"kiosk.js", "kiosk.css", "hall.js", "hall.css", "docs.js"}


@router.get("/mirror/{name}")
def own_file(name: str) -> FileResponse:
    """The web kiosk's, the hall mirror's and the API docs' script and style sheet."""
    if name not in _OWN_FILES:
        raise NotFound("not_found", f"no file {name!r}")
    # no-cache: revalidated on each load, so a page and its script never come from two versions.
    return FileResponse(_STATIC / name, media_type=_VENDOR_TYPES[Path(name).suffix],
                        headers={"Cache-Control": "no-cache"})


@router.get("/docs", response_class=HTMLResponse)
@router.get("/api/v1/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over the OpenAPI schema, from the vendored swagger-ui-dist (works without internet);
    started by ``docs.js`` rather than an inline script (FastAPI's own page has one)."""
    title = html.escape(f"{request.app.title} - API")
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/vendor/swagger-ui.css">'
        '<link rel="icon" href="/vendor/swagger-ui-favicon-32x32.png"></head><body>'
        f'<div id="swagger-ui" data-openapi-url="{html.escape(request.app.openapi_url or "/openapi.json")}"></div>'
        '<script src="/vendor/swagger-ui-bundle.js"></script><script src="/mirror/docs.js"></script>'
        '</body></html>')
