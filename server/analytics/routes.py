"""Analytics pages and feeds: the manager's reports and exports, the public load page and JSON feed.

Routes (``router``, included by :func:`server.app.create_app`):

* ``GET /reports/{office}`` — the manager's page: filters (range, period, grouping, service),
  charts and every table, in uk / ru / ky / en. ``office`` may be ``all`` (every office this
  server runs, e.g. to compare territorial offices). Behind the manager roles (``hall_manager``,
  ``admin``): a bearer token (``Authorization``) or the cookie set by ``/reports/signin``.
  Employees (names, staff and per-employee rating tables) appear only for the roles in
  ``CHERGA_REPORT_EMPLOYEE_ROLES`` (default: both manager roles).
* ``GET /reports/{office}/export.csv?table=NAME`` and ``/export.xlsx`` (all tables), same filters.
* ``GET /reports/{office}/print`` — a printable summary with the charts.
* ``GET /load/{office}`` — the public load page (office website, hall screen): per service what a
  ticket taken now would be told ("≈ 12 min, at most 25", the forecast the kiosk prints), the
  people waiting, counters open and the traffic light by that forecast; it refreshes itself. No personal data. ``GET /load/{office}/feed.json`` and ``GET /load/feed.json``
  (every office here) are the same numbers for city or national monitoring (CORS open).

Live numbers come from :meth:`server.service.OfficeService.load` (the same figures the hall
displays show); reports come from the event log through :mod:`server.analytics.store`.

Retention: when ``CHERGA_EVENT_RETENTION_DAYS`` (default 180; 0 keeps everything) is set, raw
events older than that are folded into the daily cells and deleted, at most every six hours,
in the background after a report is asked for (or with ``python -m cherga.server.analytics.retention``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import and_, or_
from sqlalchemy import select as sa_select

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server import auth
from cherga.server.analytics import store as astore
from cherga.server.analytics.engine import Cells
from cherga.server.analytics.export import NARROW, WIDE, Labels, bar_chart, line_chart, to_csv, to_xlsx
from cherga.server.analytics.i18n import catalog, pick_lang, text
from cherga.server.analytics.report import (
    DIMENSIONS,
    PERIODS,
    Column,
    Context,
    Report,
    ReportQuery,
    Table,
    build_report,
    select,
    summary_table,
)
from cherga.server.analytics.staffing import staffing_table
from cherga.server.dates import FIRST_DAY, LAST_DAY, day_in_range
from cherga.server.db import schema
from cherga.server.errors import ServiceError
from cherga.server.region.conflicts import KINDS as CONFLICT_KINDS
from cherga.server.region.conflicts import BookingConflict, find_conflicts
from cherga.server.region.rotation import Move, OfficeServices, advise, demand_from_cells, demand_from_parts
from cherga.server.service.results import forecast_light
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import StaffAccount, Store

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "cherga_reports"
LANG_COOKIE = "cherga_lang"
MANAGER_ROLES = ("hall_manager", "admin")
PRUNE_EVERY_S = 6 * 3600
REFRESH_S, REFRESH_MIN_S, REFRESH_MAX_S = 15, 5, 3600  # the public load page's ?refresh= (seconds)
NETWORK = "network"  # /reports/network: the offices of the network the account may see, summed and side by side
HOURLY = ("hour", "hour_of_day")  # periods the network's day summaries cannot give: those read the hourly cells

router = APIRouter(tags=["analytics"])
templates = Jinja2Templates(directory=str(HERE / "templates"))


# --- plumbing --------------------------------------------------------------------------------------

def employee_roles() -> tuple[str, ...]:
    raw = os.environ.get("CHERGA_REPORT_EMPLOYEE_ROLES", "hall_manager,admin")
    return tuple(r.strip() for r in raw.split(",") if r.strip())


def retention_days() -> int:
    try:
        return max(0, int(os.environ.get("CHERGA_EVENT_RETENTION_DAYS", "180")))
    except ValueError:
        return 180


def _services(request: Request) -> dict[str, Any]:
    services: dict[str, Any] | None = getattr(request.app.state, "services", None)
    if not services:
        raise HTTPException(503, "the office service is not running")
    return services


def _network_configs(request: Request) -> dict[str, SiteConfig]:
    """Every office of the network: the region file's (issue 21), else every office this server runs."""
    region = getattr(request.app.state, "region", None)
    if region is not None:
        return dict(region.configs)
    return {oid: svc.config for oid, svc in _services(request).items()}


def _configs(request: Request, office: str, viewer: StaffAccount | None = None) -> dict[str, SiteConfig]:
    services = _services(request)
    if office == NETWORK:  # the offices of the network the account may see (a regional account: all)
        return {oid: cfg for oid, cfg in _network_configs(request).items()
                if viewer is None or viewer.may_act_on(oid)}
    if office == "all":
        return {oid: svc.config for oid, svc in services.items()}
    svc = services.get(office)
    if svc is None:
        raise HTTPException(404, f"office {office!r} does not exist here")
    return {office: svc.config}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "clock", None)
    now = clock() if callable(clock) else dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _viewer(request: Request) -> StaffAccount | None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return auth.account_for_token(_store(request), token, _now(request))
    except ServiceError:
        return None


def _lang(request: Request, default: str = "uk") -> str:
    return pick_lang(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE),
                     request.headers.get("accept-language"), default)


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, ctx["lang"], max_age=365 * 86400, samesite="strict")
    return response


def _labels(configs: dict[str, SiteConfig], lang: str) -> Labels:
    names: dict[str, dict[str, str]] = {"service": {}, "counter": {}, "office": {}, "territory": {}}
    for oid, cfg in configs.items():
        names["office"][oid] = cfg.office.names.get(lang)
        for s in cfg.services:
            names["service"][s.id] = s.names.get(lang)
        for c in cfg.counters:
            names["counter"][c.id] = c.names.get(lang) if c.names else c.number
    return Labels(lang, names)


# --- reports -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Built:
    report: Report
    cells: Cells
    query: ReportQuery
    configs: dict[str, SiteConfig]
    labels: Labels
    viewer: StaffAccount
    moves: list[Move] | None = None  # the network's staff rotation advice (/reports/network only)
    conflicts: list[BookingConflict] | None = None  # bookings two offices acted on (/reports/network only)


def _parse_date(value: str | None, default: dt.date, lang: str) -> dt.date:
    if not value:
        return default
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not day_in_range(day):
        raise HTTPException(422, text(lang, "input_bad_date").format(first=FIRST_DAY, last=LAST_DAY, value=value))
    return day


def _query(request: Request, configs: dict[str, SiteConfig], viewer: StaffAccount, lang: str) -> ReportQuery:
    p = request.query_params
    tz = next(iter(configs.values())).office.tz
    today = _now(request).astimezone(tz).date()
    start = _parse_date(p.get("from"), today.replace(day=1), lang)
    end = _parse_date(p.get("to"), today, lang)
    if end < start:
        start, end = end, start
    if (end - start).days > 366:
        raise HTTPException(422, text(lang, "input_range_too_long"))
    period = p.get("period") or "day"
    if period not in PERIODS:
        raise HTTPException(422, text(lang, "input_bad_period").format(choices=", ".join(PERIODS)))
    group = tuple(g for g in (p.get("group") or "service").split(",") if g and g != "none")
    if any(g not in DIMENSIONS for g in group):
        raise HTTPException(422, text(lang, "input_bad_group").format(choices=", ".join(DIMENSIONS)))
    service = p.get("service") or None
    return ReportQuery(start=start, end=end, period=period, group_by=group,  # type: ignore[arg-type]
                       services=frozenset([service]) if service else None,
                       show_employees=viewer.role in employee_roles())


_last_prune: dict[str, float] = {}
_prune_lock = threading.Lock()


def _maybe_prune(store: Store, configs: dict[str, SiteConfig], now: dt.datetime) -> None:
    days = retention_days()
    if not days:
        return
    due = []
    with _prune_lock:
        for oid, cfg in configs.items():
            if time.monotonic() - _last_prune.get(oid, -PRUNE_EVERY_S) >= PRUNE_EVERY_S:
                _last_prune[oid] = time.monotonic()
                due.append((oid, cfg.office.tz))
    if not due:
        return

    def run() -> None:
        for oid, tz in due:
            try:
                n = astore.prune(store, oid, tz, retain_days=days, now=now)
                if n:
                    log.info("analytics: pruned the raw events of %d old days of %s", n, oid)
            except Exception:  # retention must never take the reports down; it is retried later
                log.exception("analytics: pruning %s failed", oid)

    threading.Thread(target=run, name="cherga-retention", daemon=True).start()


def _build(request: Request, office: str, viewer: StaffAccount, *, lang: str) -> _Built:
    configs = _configs(request, office, viewer)
    query = _query(request, configs, viewer, lang)
    store = _store(request)
    now = _now(request)
    if office == NETWORK and query.period not in HOURLY:
        # The network's day summaries (one per office-day, server/analytics/network.py): a month of
        # 1,000 offices in seconds; its hourly cells would take minutes (bench/network_report.py).
        # Employees and counters are in each office's own report.
        query = dataclasses.replace(query, show_employees=False)
        data = astore.load_network(store, {oid: cfg.office.tz for oid, cfg in configs.items()}, query.start,
                                   query.end, now=now)
        ctx = Context(territories={oid: cfg.office.territorial_office or oid for oid, cfg in configs.items()})
        report = build_report(data.cells, query, ctx)
        report.tables.insert(0, side_by_side_table(data.cells, configs, query))
        offices = office_services(configs)
        moves = advise(demand_from_parts(data.parts, offices, movable_only=True),
                       {oid: o.services for oid, o in offices.items()})
        _maybe_prune(store, configs, now)
        return _Built(report, data.cells, query, configs, _labels(configs, lang), viewer, moves,
                      network_conflicts(store, _network_configs(request), set(configs), query))
    cells = astore.load_cells(store, {oid: cfg.office.tz for oid, cfg in configs.items()}, query.start, query.end,
                              now=now)
    ctx = Context(territories={oid: cfg.office.territorial_office or oid for oid, cfg in configs.items()},
                  operator_names=astore.operator_names(store) if query.show_employees else {})
    staffing = None
    if len(configs) == 1:
        cfg = next(iter(configs.values()))
        staffing = staffing_table(
            cells, query, prior_service_s={s.id: s.mean_service_min * 60 for s in cfg.services},
            counter_services={c.id: [s.id for s in c.services] for c in cfg.counters})
    report = build_report(cells, query, ctx, staffing=staffing)
    network_advice: list[Move] | None = None
    if office == NETWORK:
        # Per office side by side (one row each), then where desks should move between them.
        report.tables.insert(0, side_by_side_table(cells, configs, query))
        network_advice = network_moves(cells, configs)
    _maybe_prune(store, configs, now)
    conflicts = network_conflicts(store, _network_configs(request), set(configs), query) if office == NETWORK else None
    return _Built(report, cells, query, configs, _labels(configs, lang), viewer, network_advice, conflicts)


def _require_manager(request: Request, office: str, *, page: bool) -> StaffAccount | Response:
    viewer = _viewer(request)
    if viewer is None:
        if page:
            return RedirectResponse(f"/reports/signin?next=/reports/{office}", status_code=303)
        raise HTTPException(401, "sign in as a hall manager or admin", headers={"WWW-Authenticate": "Bearer"})
    if viewer.role not in MANAGER_ROLES:
        raise HTTPException(403, "reports are for hall managers and admins")
    # The account's office scope (issue 21): its own offices' reports; "all" only if it is for all of them;
    # the network's: the offices of it the account is for, if any.
    if office == NETWORK:
        if not any(viewer.may_act_on(oid) for oid in _network_configs(request)):
            raise HTTPException(403, f"account {viewer.username!r} is for no office of this network")
        return viewer
    wanted = list(_services(request)) if office == "all" else [office]
    if not all(viewer.may_act_on(oid) for oid in wanted):
        # A page says so in the manager's language; the API keeps its English message.
        raise HTTPException(403, text(_lang(request), "office_forbidden") if page
                            else f"account {viewer.username!r} is not for office {office!r}")
    return viewer


SIDE_BY_SIDE_COLUMNS = [Column("office", "text"), Column("issued"), Column("served"), Column("no_show"),
                        Column("wait_mean", "min"), Column("called_within_15", "pct")]


def side_by_side_table(cells: Cells, configs: dict[str, SiteConfig], query: ReportQuery) -> Table:
    """One row per office: tickets, served, no-shows, mean wait to a call, % called within 15 min; from
    the same cells as the rest of the report (an office's row is its own report's figures)."""
    totals: dict[str, list[Any]] = {oid: [0, 0, 0, 0.0, 0, 0] for oid in configs}  # issued, served, no-show, wait s, waits, within
    for key, cell in select(cells, query).items():
        acc = totals.get(key.office)
        if acc is None:
            continue
        acc[0] += cell.issued
        acc[1] += cell.served
        acc[2] += cell.no_show
        if cell.waits:
            acc[3] += sum(cell.waits)
            acc[4] += len(cell.waits)
            acc[5] += sum(1 for w in cell.waits if w <= 15 * 60)
    rows = [[oid, issued, served, no_show, round(wait_s / n / 60, 1) if n else None,
             round(100.0 * within / n, 1) if n else None]
            for oid, (issued, served, no_show, wait_s, n, within) in totals.items()]  # an office with nothing: zeros
    return Table("offices_side_by_side", SIDE_BY_SIDE_COLUMNS, rows)


def office_services(configs: dict[str, SiteConfig]) -> dict[str, OfficeServices]:
    return {oid: OfficeServices(
        services=frozenset(s.id for s in cfg.services if not s.appointment_only),
        prior_service_s={s.id: s.mean_service_min * 60 for s in cfg.services},
        target_wait_s={s.id: s.target_wait_min * 60 for s in cfg.services},
        counter_services={c.id: [s.id for s in c.services] for c in cfg.counters}) for oid, cfg in configs.items()}


def network_moves(cells: Cells, configs: dict[str, SiteConfig]) -> list[Move]:
    """Staff rotation advice between ``configs``' offices from the range's cells (``server/region/rotation.py``)."""
    offices = office_services(configs)
    return advise(demand_from_cells(cells, offices), {oid: o.services for oid, o in offices.items()})


def network_conflicts(store: Store, network: dict[str, SiteConfig], visible: set[str],
                      query: ReportQuery) -> list[BookingConflict]:
    """Bookings two offices of the network acted on in the range (``server/region/conflicts.py``: the mobile
    office's report), those that touch an office in ``visible``. Read in two steps so a month of a large
    network is not read whole: the check-ins with a booking code and the missed bookings, then the later
    events of the conflicting tickets only (what became of them)."""
    e = schema.events
    zone = next(iter(network.values())).office.tz if network else ZoneInfo("UTC")
    start = astore.local_midnight(query.start - dt.timedelta(days=1), zone)  # a day either side: time zones
    end = astore.local_midnight(query.end + dt.timedelta(days=2), zone)
    columns = (e.c.seq, e.c.kind, e.c.office, e.c.ticket_id, e.c.at, e.c.data)
    with store.reading() as conn:
        rows = [dict(r) for r in conn.execute(sa_select(*columns).where(
            e.c.office.in_(sorted(network)), e.c.at >= start, e.c.at < end,
            or_(e.c.kind == "booking_missed",
                and_(e.c.kind == "issued", e.c.data["appointment"].as_string().is_not(None))))).mappings()]
        found = [c for c in find_conflicts(rows)
                 if (c.booked_at in visible) or any(a.office in visible for a in c.acts)]
        tickets = sorted({str(r["ticket_id"]) for r in rows if r["ticket_id"]
                          and any(a.office == r["office"] and a.what == "checked_in" for c in found for a in c.acts)})
        if tickets:
            rows += [dict(r) for r in conn.execute(sa_select(*columns).where(
                e.c.ticket_id.in_(tickets), e.c.kind.in_([k for k in CONFLICT_KINDS if k != "issued"]))).mappings()]
    return [c for c in find_conflicts(rows) if (c.booked_at in visible) or any(a.office in visible for a in c.acts)]


def conflict_line(conflict: BookingConflict, network: dict[str, SiteConfig], visible: set[str], lang: str) -> str:
    """One conflict as a manager reads it; an office the account may not see is "another office" (no ticket)."""
    t = catalog(lang)

    def name(office: str | None) -> str:
        if office is None:
            return "—"
        if office not in visible or office not in network:
            return t["conflict_other_office"]
        return str(network[office].office.names.get(lang))

    acts = []
    for a in conflict.acts:
        zone = network[a.office].office.tz if a.office in network else dt.UTC
        when = a.at.astimezone(zone).strftime("%d.%m %H:%M")
        if a.what == "checked_in" and a.office in visible:
            acts.append(t["conflict_checked_in"].format(office=name(a.office), ticket=a.ticket or "—", time=when,
                                                         outcome=t[f"conflict_outcome_{a.outcome or 'waiting'}"]))
        elif a.what == "checked_in":
            acts.append(t["conflict_checked_in"].format(office=name(a.office), ticket="—", time=when,
                                                         outcome=t[f"conflict_outcome_{a.outcome or 'waiting'}"]))
        else:
            acts.append(t["conflict_missed"].format(office=name(a.office), time=when))
    slot = conflict.slot
    if slot:
        try:
            moment = dt.datetime.fromisoformat(slot)
            home = network.get(conflict.booked_at or "")
            slot = (moment.astimezone(home.office.tz) if home is not None and moment.tzinfo else moment).strftime("%d.%m %H:%M")
        except ValueError:
            pass
    return t["conflict_line"].format(code=conflict.code, home=name(conflict.booked_at), slot=slot or "—",
                                     acts="; ".join(acts))


def move_line(move: Move, configs: dict[str, SiteConfig], lang: str) -> str:
    """One move as a manager reads it: "Move 2 desks of Passports from North to South on Tuesday 09:00–12:00"."""
    source, target = configs[move.source], configs[move.target]
    service = next((s.names.get(lang) for s in source.services if s.id == move.service), move.service)
    return catalog(lang)["rotation_move"].format(
        n=move.desks, service=service, source=source.office.names.get(lang), target=target.office.names.get(lang),
        day=text(lang, f"weekday_{move.weekday_id}"), hours=move.hours)


def _short(category: str) -> str:
    """A day reads "02.03" under a chart (the year and month are in the page's range line)."""
    found = re.fullmatch(r"\d{4}-(\d{2})-(\d{2})", category)
    return f"{found.group(2)}.{found.group(1)}" if found else category


def _charts(built: _Built) -> list[tuple[str, str, str]]:
    """Office-wide charts for the range: volume and waits per period, counters per hour of day. Each is
    (its title, drawn at the width a desk shows it, drawn at the width a phone or paper does): export.py
    says why; the page writes the title above it."""
    return [(title, draw(WIDE), draw(NARROW)) for title, draw in _chart_makers(built)]


def _chart_makers(built: _Built) -> list[tuple[str, Callable[[tuple[int, int]], str]]]:
    lang = built.labels.lang
    q = built.query
    period = q.period if q.period != "total" else "day"
    overall = summary_table(select(built.cells, q), dataclasses.replace(q, group_by=(), period=period), Context())
    if not overall.rows:
        return []
    cats = [_short(str(r[0])) for r in overall.rows]
    rows = overall.as_dicts()
    volume = {text(lang, "issued"): [r["issued"] for r in rows], text(lang, "served"): [r["served"] for r in rows]}
    waits = {text(lang, "wait_mean"): [r["wait_mean"] for r in rows], text(lang, "wait_p90"): [r["wait_p90"] for r in rows]}
    charts: list[tuple[str, Callable[[tuple[int, int]], str]]] = [
        (text(lang, "chart_volume"), lambda size: bar_chart(text(lang, "chart_volume"), cats, volume, size=size)),
        (text(lang, "chart_wait"), lambda size: line_chart(text(lang, "chart_wait"), cats, waits, limit=15,
                                                          limit_label="15", size=size)),
    ]
    try:
        staffing = built.report.table("staffing")
    except KeyError:
        return charts
    need: dict[str, float] = {}
    have: dict[str, float] = {}
    for r in staffing.as_dicts():
        if "+" in str(r["service"]):  # a pool's line: its services' own lines are counted already
            continue
        need[r["hour_of_day"]] = need.get(r["hour_of_day"], 0) + (r["counters_needed"] or 0)
        have[r["hour_of_day"]] = have.get(r["hour_of_day"], 0) + (r["counters_open"] or 0)
    hours = sorted(need)
    if hours:
        staff = {text(lang, "counters_needed"): [need[h] for h in hours],
                 text(lang, "counters_open"): [round(have[h], 2) for h in hours]}
        charts.append((text(lang, "chart_staffing"),
                       lambda size: bar_chart(text(lang, "chart_staffing"), hours, staff, size=size)))
    return charts


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def _report_context(request: Request, built: _Built, office: str, *, printable: bool) -> dict[str, Any]:
    lang = built.labels.lang
    cfg = next(iter(built.configs.values()))
    q = built.query
    params = {"from": q.start.isoformat(), "to": q.end.isoformat(), "period": q.period,
              "group": ",".join(q.group_by) or "none", "service": next(iter(q.services)) if q.services else "",
              "lang": lang}
    qs = "&".join(f"{k}={v}" for k, v in params.items() if v)
    office_name = (text(lang, "all_offices") if office == "all" else text(lang, "network_reports")
                   if office == NETWORK else cfg.office.names.get(lang))
    return {
        "request": request, "lang": lang, "t": catalog(lang), "office": office, "office_name": office_name,
        "tables": [(t, built.labels.header(t), [[_fmt(v) for v in r] for r in built.labels.rows(t)],
                    [c.kind for c in t.columns]) for t in built.report.tables],
        "charts": _charts(built), "query": q, "params": params, "qs": qs, "printable": printable,
        "periods": PERIODS, "groupings": ["service", "counter", "operator", "office", "territory", "none",
                                          "service,operator", "office,service"] if q.show_employees else
        ["service", "counter", "office", "territory", "none", "office,service"],
        "services": [(s.id, s.names.get(lang)) for c in built.configs.values() for s in c.services],
        "langs": [(code, catalog(code).get("lang_name", code)) for code in LANGUAGES],
        "viewer": built.viewer, "generated": _now(request).astimezone(cfg.office.tz).strftime("%Y-%m-%d %H:%M"),
        "text": lambda key: text(lang, key),
        "moves": None if built.moves is None else [move_line(m, built.configs, lang) for m in built.moves],
        "conflicts": None if built.conflicts is None else [
            conflict_line(c, _network_configs(request), set(built.configs), lang) for c in built.conflicts],
        "network_link": office != NETWORK and len(_network_configs(request)) > 1,
        # The other offices of this server the manager may read (issue 21), one link each.
        "office_links": [(oid, str(svc.config.office.names.get(lang))) for oid, svc in _services(request).items()
                         if oid != office and built.viewer.may_act_on(oid)] if len(_services(request)) > 1 else [],
    }


@router.get("/reports", include_in_schema=False)
def reports_home(request: Request) -> Response:
    """The first office here the account may see; the network's reports for an account whose offices
    all run their own server (issue 21: a manager of such an office reads the network here)."""
    viewer = _viewer(request)
    here = list(_services(request))
    mine = [oid for oid in here if viewer is None or viewer.may_act_on(oid)]
    if not mine and viewer is not None and any(viewer.may_act_on(oid) for oid in _network_configs(request)):
        return RedirectResponse(f"/reports/{NETWORK}", status_code=303)
    return RedirectResponse(f"/reports/{(mine or here)[0]}", status_code=303)


@router.get("/reports/signin", response_class=HTMLResponse, include_in_schema=False)
def signin_form(request: Request, next: str = "/reports") -> HTMLResponse:  # noqa: A002 - the query name
    lang = _lang(request)
    return _page(request, "signin.html", {"request": request, "lang": lang, "t": catalog(lang), "next": next,
                                          "error": None, "offices": _office_choice(request, lang, next)})


def _office_choice(request: Request, lang: str, chosen: str) -> list[tuple[str, str, bool]] | None:
    """(id, name, selected) of the offices the sign-in form offers on a server that runs several (issue 21);
    ``None`` with one office (the form then asks for no office)."""
    services = _services(request)
    if len(services) < 2:
        return None
    wanted = chosen.removeprefix("/reports/").split("/")[0].split("?")[0]
    offices = [(oid, str(svc.config.office.names.get(lang))) for oid, svc in services.items()]
    offices.append(("all", text(lang, "all_offices")))
    return [(oid, name, oid == wanted) for oid, name in offices]


@router.post("/reports/signin", include_in_schema=False)
def signin(request: Request, username: str = Form(...), password: str = Form(...),
           next: str = Form("/reports"), office: str = Form("")) -> Response:  # noqa: A002
    lang = _lang(request)
    target = next if next.startswith("/reports") else "/reports"
    services = _services(request)
    if office in services or (office == "all" and len(services) > 1):
        # The office chosen on the form (issue 21); a page of another office asked for first gives way to it.
        target = target if target.removeprefix("/reports/").split("/")[0].split("?")[0] == office else f"/reports/{office}"
    try:
        token, account, expires = auth.login(_store(request), username, password, _now(request))
    except ServiceError as exc:
        # Locked after wrong passwords (429) or too many signing in at once (503): say so, not "wrong password".
        error = {429: "too_many_attempts", 503: "signin_busy"}.get(exc.status, "bad_credentials")
        return _page(request, "signin.html", {"request": request, "lang": lang, "t": catalog(lang), "next": target,
                                              "error": error}, exc.status if error != "bad_credentials" else 401)
    refusal = None
    if account.role not in MANAGER_ROLES:
        refusal = "forbidden"
    elif office in services and not account.may_act_on(office) or office == "all" and not all(
            account.may_act_on(oid) for oid in services):
        refusal = "office_forbidden"  # a manager of another office of this server (issue 21)
    if refusal is not None:
        _store(request).drop_session(token)  # signed in for nothing: leave no live session behind
        return _page(request, "signin.html", {"request": request, "lang": lang, "t": catalog(lang), "next": target,
                                              "error": refusal, "offices": _office_choice(request, lang, target)}, 403)
    response = RedirectResponse(target, status_code=303)
    max_age = max(60, int((expires - _now(request)).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path="/reports")
    return response


@router.post("/reports/signout", include_in_schema=False)
def signout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        _store(request).drop_session(token)
    response = RedirectResponse("/reports/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/reports")
    return response


@router.get("/reports/{office}", response_class=HTMLResponse, include_in_schema=False)
def reports_page(request: Request, office: str) -> Response:
    viewer = _require_manager(request, office, page=True)
    if isinstance(viewer, Response):
        return viewer
    lang = _lang(request)
    built = _build(request, office, viewer, lang=lang)
    return _page(request, "reports.html", _report_context(request, built, office, printable=False))


@router.get("/reports/{office}/print", response_class=HTMLResponse, include_in_schema=False)
def reports_print(request: Request, office: str) -> Response:
    viewer = _require_manager(request, office, page=True)
    if isinstance(viewer, Response):
        return viewer
    built = _build(request, office, viewer, lang=_lang(request))
    return _page(request, "reports.html", _report_context(request, built, office, printable=True))


def _filename(built: _Built, office: str, suffix: str) -> str:
    return f"cherga-{office}-{built.query.start.isoformat()}-{built.query.end.isoformat()}{suffix}"


@router.get("/reports/{office}/export.xlsx", summary="Every report table as an XLSX workbook",
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def export_xlsx(request: Request, office: str) -> Response:
    viewer = _require_manager(request, office, page=False)
    assert isinstance(viewer, StaffAccount)
    built = _build(request, office, viewer, lang=_lang(request))
    title = built.labels.names.get("office", {}).get(office, office)
    data = to_xlsx(built.report.tables, built.labels, title=title)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{_filename(built, office, ".xlsx")}"'})


@router.get("/reports/{office}/export.csv", summary="One report table as CSV (?table=summary, staff, ...)",
            responses={200: {"content": {"text/csv": {}}}})
def export_csv(request: Request, office: str, table: str = "summary") -> Response:
    viewer = _require_manager(request, office, page=False)
    assert isinstance(viewer, StaffAccount)
    built = _build(request, office, viewer, lang=_lang(request))
    try:
        chosen = built.report.table(table)
    except KeyError:
        raise HTTPException(404, f"no table {table!r} in this report") from None
    body = "\ufeff" + to_csv(chosen, built.labels)  # the BOM makes spreadsheet programs read UTF-8
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_filename(built, office, "-" + table + ".csv")}"'})


# --- public load -------------------------------------------------------------------------------------

def office_load(svc: Any, now: dt.datetime) -> dict[str, Any]:
    """One office's live load, public: aggregate numbers only, never a ticket or a person.

    Per service: ``forecast_min``/``forecast_max_min``, what a ticket taken now would be told ("≈ 12
    min, at most 25", the same forecast the kiosk prints); ``waiting``; ``counters_open``; ``light``
    by that forecast (:func:`forecast_light`); ``faster_at`` (issue 21), another office of the network
    where the same service is forecast clearly quicker (``server/region/network.py``), or None. ``avg_wait_min`` is how long those waiting have
    waited so far, kept in the feed for monitoring and not shown as a wait to expect.
    """
    cfg: SiteConfig = svc.config
    services = []
    forecasts = svc.forecasts() if hasattr(svc, "forecasts") else {}
    for load in svc.load():
        point, most = forecasts.get(load.service, (None, None))
        services.append({"service": load.service, "names": dict(load.names), "waiting": load.waiting,
                         "counters_open": load.counters_open, "avg_wait_min": load.avg_wait_min,
                         "light": forecast_light(load.waiting, load.counters_open, point, load.avg_wait_min),
                         "forecast_min": point, "forecast_max_min": most,
                         # in a network (issue 21): the other office where it is clearly quicker, or None
                         "faster_at": load.faster_at.model_dump(mode="json") if load.faster_at else None})
    return {"office": cfg.office.id, "names": cfg.office.names.as_dict(),
            "territorial_office": cfg.office.territorial_office, "timezone": cfg.office.timezone,
            "updated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "waiting": sum(s["waiting"] for s in services),
            "counters_open": sum(1 for c in cfg.counters if svc.counter_state(c.id).status not in ("closed", "paused")),
            "services": services}


_CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


@router.get("/load/feed.json", summary="Live load of every office on this server (public, no personal data)")
def load_feed_all(request: Request) -> JSONResponse:
    now = _now(request)
    offices = [office_load(svc, now) for svc in _services(request).values()]
    return JSONResponse({"updated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"), "offices": offices},
                        headers=_CORS)


@router.get("/load/{office}/feed.json", summary="Live load of one office (public, no personal data)")
def load_feed(request: Request, office: str) -> JSONResponse:
    svc = _services(request).get(office)
    if svc is None:
        raise HTTPException(404, f"office {office!r} does not exist here")
    return JSONResponse(office_load(svc, _now(request)), headers=_CORS)


def _refresh_s(request: Request, lang: str) -> int:
    """``?refresh=`` of the load page: how often it fetches the feed, in whole seconds."""
    value = request.query_params.get("refresh") or str(REFRESH_S)
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and REFRESH_MIN_S <= int(value) <= REFRESH_MAX_S):
        raise HTTPException(422, text(lang, "input_bad_refresh").format(low=REFRESH_MIN_S, high=REFRESH_MAX_S))
    return int(value)


@router.get("/load/{office}", response_class=HTMLResponse, include_in_schema=False)
def load_page(request: Request, office: str) -> HTMLResponse:
    svc = _services(request).get(office)
    if svc is None:
        raise HTTPException(404, f"office {office!r} does not exist here")
    cfg: SiteConfig = svc.config
    lang = _lang(request, cfg.office.languages[0])
    data = office_load(svc, _now(request))
    local = _now(request).astimezone(ZoneInfo(cfg.office.timezone))
    ctx = {"request": request, "lang": lang, "t": catalog(lang), "office": office,
           "office_name": cfg.office.names.get(lang), "data": data, "updated": local.strftime("%H:%M"),
           "langs": [(code, catalog(code).get("lang_name", code)) for code in cfg.office.languages],
           "name_of": lambda names: names.get(lang) or names.get("en") or next(iter(names.values()), ""),
           "refresh_s": _refresh_s(request, lang)}
    return _page(request, "load.html", ctx)


@router.get("/analytics/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    files = {"analytics.css": "text/css", "load.js": "text/javascript"}
    if name not in files:
        raise HTTPException(404, "no such file")
    return Response((HERE / "static" / name).read_bytes(), media_type=files[name],
                    headers={"Cache-Control": "max-age=3600"})
