"""The informing pages: every service and life situation explained, in the citizen's language.

* ``GET /office/{office}/services`` — the index: search box (``?q=``), life situations, services;
* ``GET /office/{office}/services/{service}`` — what the service is, what to bring, the fee, the
  time to result, where to go and the legal basis (printable: a print stylesheet drops the
  navigation and spells out link addresses);
* ``GET /office/{office}/situations/{bundle}`` — a life situation: every service it takes, each
  with its documents, and the documents the situation adds;
* ``GET /office/{office}/services.json?q=`` — the same search as JSON, for the web kiosk.

The language is ``?lang=``, else the browser's ``Accept-Language`` among the office's languages,
else the office's first. Pages are server-rendered with no script beyond the print button, so
they work offline and on any phone.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import browser_language
from cherga.server.errors import NotFound
from cherga.server.informing.i18n import catalog
from cherga.server.informing.search import Hit, SearchIndex
from cherga.server.mirror.i18n import LANGUAGE_NAMES
from cherga.server.siteconfig import Bundle, Names, Service, SiteConfig

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
MAX_QUERY = 200

# One index per office, rebuilt when the office's config object changes (a config edit replaces it).
_INDEXES: dict[str, tuple[SiteConfig, SearchIndex]] = {}
_INDEX_LOCK = threading.Lock()


def index_of(cfg: SiteConfig) -> SearchIndex:
    with _INDEX_LOCK:
        cached = _INDEXES.get(cfg.office.id)
        if cached is None or cached[0] is not cfg:
            cached = (cfg, SearchIndex.build(cfg))
            _INDEXES[cfg.office.id] = cached
        return cached[1]


def _config(request: Request, office: str) -> SiteConfig:
    svc = request.app.state.services.get(office)
    if svc is None:
        raise NotFound("unknown_office", f"office {office!r} is not served here")
    cfg: SiteConfig = svc.config
    return cfg


def page_language(request: Request, cfg: SiteConfig) -> str:
    """``?lang=`` (any language Cherga speaks), else the browser's among the office's, else the office's first."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return str(asked)
    offered = [str(lang) for lang in cfg.office.languages]
    return browser_language(request.headers.get("accept-language"), offered) or offered[0]


class _Text:
    """Office content in the page's language, falling back through the office's languages."""

    def __init__(self, lang: str, cfg: SiteConfig) -> None:
        self.lang = lang
        self.fallbacks = tuple(str(x) for x in cfg.office.languages)

    def __call__(self, names: Names | None) -> str:
        return names.get(self.lang, self.fallbacks) if names is not None else ""


def _context(request: Request, cfg: SiteConfig, lang: str, title: str, **extra: Any) -> dict[str, Any]:
    languages = list(dict.fromkeys([*cfg.office.languages, *([lang] if lang not in cfg.office.languages else [])]))
    names: dict[str, str] = {str(k): v for k, v in LANGUAGE_NAMES.items()}
    return {"lang": lang, "t": catalog(lang), "tx": _Text(lang, cfg), "cfg": cfg, "title": title,
            "office_name": cfg.office.names.get(lang, tuple(cfg.office.languages)),
            "base": f"/office/{cfg.office.id}", "path": request.url.path,
            "languages": [(code, names[code]) for code in languages],
            **extra}


def _render(request: Request, name: str, ctx: dict[str, Any]) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, ctx, headers={"Content-Language": ctx["lang"]})
    return response  # type: ignore[no-any-return]


def _situations_of(cfg: SiteConfig, service_id: str) -> list[Bundle]:
    return [b for b in cfg.bundles if service_id in b.services]


@router.get("/office/{office}/services", response_class=HTMLResponse)
def services_index(request: Request, office: str, q: str = "") -> HTMLResponse:
    """All services and life situations, and the search results for ``q``."""
    cfg = _config(request, office)
    lang = page_language(request, cfg)
    query = q.strip()[:MAX_QUERY]  # a pasted essay is cut, not refused: the visitor keeps a page
    hits = index_of(cfg).search(query) if query else []
    return _render(request, "index.html", _context(
        request, cfg, lang, catalog(lang)["page_title"], query=query, hits=_resolve(cfg, hits)))


def _resolve(cfg: SiteConfig, hits: list[Hit]) -> list[tuple[str, Service | Bundle]]:
    out: list[tuple[str, Service | Bundle]] = []
    for h in hits:
        if h.kind == "service":
            out.append(("service", cfg.service(h.id)))
        else:
            out.append(("bundle", next(b for b in cfg.bundles if b.id == h.id)))
    return out


@router.get("/office/{office}/services.json")
def services_search(request: Request, office: str, q: str = "") -> JSONResponse:
    """The search as JSON: each hit's kind, id, name in the page language, page URL and score."""
    cfg = _config(request, office)
    lang = page_language(request, cfg)
    tx = _Text(lang, cfg)
    hits = []
    for h in index_of(cfg).search(q.strip()[:MAX_QUERY]):
        if h.kind == "service":
            name, url = tx(cfg.service(h.id).names), f"/office/{office}/services/{h.id}?lang={lang}"
        else:
            name = tx(next(b for b in cfg.bundles if b.id == h.id).names)
            url = f"/office/{office}/situations/{h.id}?lang={lang}"
        hits.append({"kind": h.kind, "id": h.id, "name": name, "url": url, "score": h.score})
    return JSONResponse({"query": q, "lang": lang, "hits": hits})


@router.get("/office/{office}/services/{service_id}", response_class=HTMLResponse)
def service_page(request: Request, office: str, service_id: str) -> HTMLResponse:
    cfg = _config(request, office)
    try:
        service = cfg.service(service_id)
    except KeyError:
        raise NotFound("unknown_service", f"service {service_id!r} is not offered here") from None
    lang = page_language(request, cfg)
    bookable = cfg.booking_capacity(service.id) > 0
    return _render(request, "service.html", _context(
        request, cfg, lang, service.names.get(lang, tuple(cfg.office.languages)), service=service,
        info=service.info, situations=_situations_of(cfg, service.id), bookable=bookable))


@router.get("/office/{office}/situations/{bundle_id}", response_class=HTMLResponse)
def situation_page(request: Request, office: str, bundle_id: str) -> HTMLResponse:
    cfg = _config(request, office)
    bundle = next((b for b in cfg.bundles if b.id == bundle_id), None)
    if bundle is None:
        raise NotFound("unknown_situation", f"life situation {bundle_id!r} is not described here")
    lang = page_language(request, cfg)
    services = [cfg.service(sid) for sid in bundle.services]
    return _render(request, "situation.html", _context(
        request, cfg, lang, bundle.names.get(lang, tuple(cfg.office.languages)), bundle=bundle,
        services=services))
