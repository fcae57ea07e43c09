"""The audit log for administrators: ``GET /api/v1/audit`` (JSON), ``GET /reports/{office}/audit``
(a page) and ``GET /reports/{office}/audit.csv`` (the export that goes with the reports).

Only ``admin`` reads it: a bearer token, or the reports' sign-in cookie (``/reports/signin``).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from cherga.server import auth
from cherga.server.errors import Forbidden, Invalid, NotFound, Unauthorized
from cherga.server.panel.error_page import page_language
from cherga.server.panel.i18n import catalog
from cherga.server.security import audit
from cherga.server.store import StaffAccount, Store

router = APIRouter(include_in_schema=True, tags=["audit"])

REPORTS_COOKIE = "cherga_reports"  # server.analytics.routes.COOKIE
# Entries of these kinds read as words; the rest are requests (METHOD /path) an administrator reads as such.
NAMED = ("sign_in", "sign_in_refused", "sign_in_locked", "sign_in_busy", "sign_out", "node_enroll")


def _now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if callable(clock) else dt.datetime.now(dt.UTC)


def _admin(request: Request, office: str = "all") -> StaffAccount:
    """An administrator's account, for ``office`` ("all": every office of this server, issue 21)."""
    services = getattr(request.app.state, "services", None) or {}
    if office != "all" and services and office not in services:
        raise NotFound("unknown_office", "no such office here")  # never echo the path: it may be anything
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(REPORTS_COOKIE)
    if not token:
        raise Unauthorized("token_required", "the audit log needs an administrator's sign-in")
    account = auth.account_for_token(request.app.state.store, token, _now(request))
    if account.role != "admin":
        raise Forbidden("forbidden", "only administrators read the audit log")
    if not all(account.may_act_on(o) for o in (list(services) if office == "all" else [office])):
        raise Forbidden("office_forbidden", f"account {account.username!r} is not for office {office!r}")
    return account


def _moment(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """A query's time as an aware UTC instant (a time without a zone is read as UTC)."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise Invalid("bad_time", f"{name}: not a time the log can hold") from None


def _rows(request: Request, office: str | None, since: dt.datetime | None, until: dt.datetime | None,
          actor: str | None, limit: int) -> list[dict[str, Any]]:
    store: Store = request.app.state.store
    return audit.entries(store, office=office, since=_moment(since, "since"), until=_moment(until, "until"),
                         actor=actor, limit=limit)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


Since = Annotated[dt.datetime | None, Query(description="entries at or after (ISO 8601 with zone)")]
Until = Annotated[dt.datetime | None, Query(description="entries before")]
Actor = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=100_000)]


@router.get("/api/v1/audit", summary="The audit log, newest first (administrators)")
def audit_json(request: Request, since: Since = None, until: Until = None, actor: Actor = None,
               limit: Limit = 1000) -> JSONResponse:
    _admin(request)
    return JSONResponse([_jsonable(r) for r in _rows(request, None, since, until, actor, limit)])


@router.get("/reports/{office}/audit.csv", include_in_schema=False)
def audit_csv(request: Request, office: str, since: Since = None, until: Until = None, actor: Actor = None,
              limit: Limit = 100_000) -> Response:
    _admin(request, office)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(audit.COLUMNS)
    for row in _rows(request, None if office == "all" else office, since, until, actor, limit):
        writer.writerow([json.dumps(row[c], ensure_ascii=False) if c == "data" else
                         (row[c].isoformat() if isinstance(row[c], dt.datetime) else row[c]) for c in audit.COLUMNS])
    return Response(out.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="audit-{office}.csv"'})


@router.get("/reports/{office}/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, office: str, actor: Actor = None) -> Response:
    try:
        _admin(request, office)
    except Unauthorized:
        return RedirectResponse(f"/reports/signin?next=/reports/{office}/audit", status_code=303)
    lang = page_language(request)
    t = catalog(lang)
    services = getattr(request.app.state, "services", None) or {}
    config = services[office].config if office in services else request.app.state.config
    tz = config.office.tz
    rows = _rows(request, None if office == "all" else office, None, None, actor, 500)
    e = html.escape

    def what(row: dict[str, Any]) -> str:
        return str(t[f"audit_{row['action']}"]) if row["action"] in NAMED else str(row["action"])

    body = "".join(
        f"<tr><td>{e(r['at'].astimezone(tz).strftime('%Y-%m-%d %H:%M:%S'))}</td><td>{e(r['actor'] or '—')}</td>"
        f"<td>{e(what(r))}</td><td>{e(r['address'] or '—')}</td>"
        f"<td>{e(str(t['audit_ok'] if r['outcome'] == 'ok' else t['audit_refused']))}</td></tr>" for r in rows)
    title = e(str(t["audit_title"]))
    page = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            '<link rel="stylesheet" href="/analytics/static/analytics.css"></head><body><main>'
            f'<h1>{title}</h1><p><a href="/reports/{e(office)}/audit.csv">{e(str(t["audit_export"]))}</a> · '
            f'<a href="/reports/{e(office)}">{e(str(t["audit_back"]))}</a></p>'
            f'<table><thead><tr><th scope="col">{e(str(t["audit_at"]))}</th><th scope="col">{e(str(t["audit_who"]))}</th>'
            f'<th scope="col">{e(str(t["audit_what"]))}</th><th scope="col">{e(str(t["audit_where"]))}</th>'
            f'<th scope="col">{e(str(t["audit_outcome"]))}</th></tr></thead><tbody>{body}</tbody></table>'
            '</main></body></html>')
    return HTMLResponse(page)
