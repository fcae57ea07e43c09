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

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from cherga.broker_bridge.contract import LANGUAGES
from cherga.display.board import split_label
from cherga.display.voice import FragmentCache, announcement, compose
from cherga.server.errors import NotFound
from cherga.server.mirror.i18n import LANGUAGE_NAMES, catalog
from cherga.server.siteconfig import SiteConfig

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


def _office_json(cfg: SiteConfig) -> str:
    """What the pages need about the office, as JSON embedded in the page (no personal data)."""
    data = {
        "office": cfg.office.id,
        "names": cfg.office.names.as_dict(),
        "languages": list(cfg.office.languages),
        "language_names": LANGUAGE_NAMES,
        "texts": {lang: catalog(lang) for lang in LANGUAGES},
        "services": [{"id": s.id, "prefix": s.prefix, "names": s.names.as_dict(), "purposes": list(s.purposes),
                      "appointment_only": s.appointment_only} for s in cfg.services],
        "bundles": [{"id": b.id, "names": b.names.as_dict(), "services": list(b.services)} for b in cfg.bundles],
        "categories": [{"id": p.id, "names": p.names.as_dict()} for p in cfg.priority_categories],
        "recent_calls": cfg.display.recent_calls,
        "blink_s": cfg.display.blink_s,
        "alternate_s": 6.0,  # the TV program's default (display.board.BoardSettings.alternate_s)
        "layout": cfg.display.layout,
        "timezone": cfg.office.timezone,
        "voice_languages": list(cfg.voice.languages),
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
