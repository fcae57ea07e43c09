"""Refusals and errors as a page for a person with a browser; the API keeps its JSON.

:func:`wants_page` decides by the route and the ``Accept`` header: anything outside ``/api/`` that a
browser asks for as HTML (a page it navigates to) gets :func:`error_page`; scripts, feeds, exports
and the REST API get JSON. The page speaks the person's language (``?lang=``, else their session's
language cookie, else the browser's ``Accept-Language``, else the office's first language), says
what went wrong in words (no ids) and links back: to the page they came from and to the start page.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import browser_language
from cherga.server.errors import ServiceError
from cherga.server.panel.i18n import catalog
from cherga.server.panel.refusals import refusal_text

__all__ = ["error_page", "page_language", "wants_page"]

LANG_COOKIE = "cherga_lang"  # the panel's and the reports' language choice
# An HTTP error without a service key: which message says it.
STATUS_KEYS = {401: "error_token_required", 403: "error_forbidden", 404: "error_not_found",
               405: "error_method_not_allowed", 422: "error_invalid_input"}


def wants_page(request: Request) -> bool:
    """A browser navigating to a page (not the API, not a script's fetch of JSON or a file)."""
    if request.url.path.startswith("/api/") or request.headers.get("x-panel-fragment") == "1":
        return False
    return "text/html" in request.headers.get("accept", "")


def page_language(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    browser = browser_language(request.headers.get("accept-language"), LANGUAGES)
    if browser is not None:
        return browser
    config = getattr(request.app.state, "config", None)
    offered = [lang for lang in (config.office.languages if config is not None else []) if lang in LANGUAGES]
    return offered[0] if offered else "uk"


def _way_back(request: Request) -> str | None:
    """The page the person came from, when it is one of this server's pages (never another site)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if not referer.path.startswith("/") or referer.netloc not in ("", request.url.netloc):
        return None
    back = referer.path + (f"?{referer.query}" if referer.query else "")
    return None if back == request.url.path else back


def error_page(request: Request, status: int, *, exc: ServiceError | None = None, detail: Any = None,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page for a refusal ``exc`` or an HTTP error ``status`` (``detail``: a route's words, shown for 422)."""
    lang = page_language(request)
    t = catalog(lang)
    if exc is not None:
        text = refusal_text(getattr(request.app.state, "config", None), lang, exc)
    elif status == 422 and isinstance(detail, str) and detail:
        text = detail  # the routes word their input refusals in the person's language
    else:
        text = t[STATUS_KEYS.get(status, "error_generic")]
    back = _way_back(request)
    links = [f'<a href="{html.escape(back)}" rel="prev">{html.escape(t["error_page_back"])}</a>'] if back else []
    links.append(f'<a href="/" rel="home">{html.escape(t["error_page_start"])}</a>')
    title = html.escape(t["error_page_title"])
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            '<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;'
            'line-height:1.5}nav a{margin-right:1.5rem}</style></head>'
            f'<body><main><h1>{title}</h1><p class="error" role="alert">{html.escape(text)}</p>'
            f'<nav>{"".join(links)}</nav></main></body></html>')
    return HTMLResponse(body, status_code=status, headers=headers)
