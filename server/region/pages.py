"""The network's public load page and its refresher (issue 21): ``/network`` (every office of the region,
per service: the forecast for a ticket taken now, people waiting, counters open, the light),
``/network.json`` (the same as the retained ``NetworkLoad``), and the background refresh that keeps
each office served here told the other offices' load (its ``faster_at``).

Where the numbers come from (:class:`NetworkWatch`, the pure rules in :mod:`.network`):

* offices this server runs (``served_by: region``, or every ``-c`` office): their live
  :meth:`OfficeService.load`, read one office at a time (never under another office's lock);
* offices with their own server: ``app.state.region_link.hall_states()`` (the newest ``HallState``
  each one sent up through the bridged brokers), when the region link runs.

Names and addresses come from the region file (``app.state.region``); without one (a plain
many-office server) the page lists the offices served here without addresses and names no faster
office (nobody could find it). If the region link can publish (``publish_network(office, load)``),
each office with its own server gets its copy (``region_network``, retained) at every refresh: the
:func:`~.network.digest` of the network for it (per service the three quickest other offices that
could be named now), which stays small for any size of network.

Once a UTC day the same background round folds every network office's closed days of the last week
(:meth:`NetworkWatch.fold_closed_days`: hourly cells and the network report's day summaries), so
``/reports/network`` finds them ready.

The page uses the analytics pages' look and words (``server/analytics``: the same load table, the
same catalogs) and refreshes its table in place every :data:`REFRESH_S` seconds from
``/network/part`` (no reload, nothing to lose on it but the language choice, which is a link).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cherga.broker_bridge.contract import LANGUAGES, NetworkLoad, NetworkOffice
from cherga.server.analytics.i18n import catalog, pick_lang
from cherga.server.analytics.routes import templates
from cherga.server.analytics.store import refresh_network
from cherga.server.region.network import STALE_AFTER, digest, network_load, office_reading
from cherga.server.service.results import forecast_light

log = logging.getLogger(__name__)

REFRESH_S = 15  # the page's and the offices' refresh: a forecast moves in minutes, not seconds
FOLD_BACK_DAYS = 7  # the closed days folded in the background: a week back (a server down a few days catches up)
FRESH_FOR_S = 5.0  # a page read reuses a summary this young instead of reading every office again
HERE = Path(__file__).resolve().parent

router = APIRouter(include_in_schema=False)


def _now(app: FastAPI) -> dt.datetime:
    clock = getattr(app.state, "clock", None)
    now = clock() if callable(clock) else dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


class NetworkWatch:
    """Builds the network's load from the offices served here and the region link's hall states, and
    tells each served office the others' (``OfficeService.set_network``)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.latest: NetworkLoad | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._folded_on: dt.date | None = None  # the UTC day the closed days were last folded

    def _region_id(self) -> str:
        region = getattr(self.app.state, "region", None)
        return region.file.region.id if region is not None else "local"

    def build(self, now: dt.datetime) -> NetworkLoad:
        state = self.app.state
        region = getattr(state, "region", None)
        services: dict[str, Any] = getattr(state, "services", {}) or {}
        readings: list[NetworkOffice] = []
        order = [o.id for o in region.file.offices] if region is not None else list(services)
        link = getattr(state, "region_link", None)
        remote: dict[str, Any] = {}
        if link is not None:
            try:
                remote = dict(link.hall_states())
            except Exception:  # the link's trouble must not take the page down
                log.exception("network: the region link's hall states could not be read")
        for office in order:
            svc = services.get(office)
            address = region.office(office).address.as_dict() if region is not None else {}
            if svc is not None:
                readings.append(office_reading(svc.config, address, svc.load(), updated_at=now, now=now))
            elif region is None:
                continue
            elif (hall := remote.get(office)) is not None:
                readings.append(office_reading(region.configs[office], address, hall.load, updated_at=hall.updated_at, now=now))
            else:  # never heard from: listed, with nothing to recommend
                readings.append(office_reading(region.configs[office], address, [], updated_at=dt.datetime.fromtimestamp(0, dt.UTC),
                                               now=now))
        return network_load(self._region_id(), readings, now)

    def refresh(self) -> NetworkLoad:
        """Read every office now, tell each served office the others', hand each remote one its copy."""
        with self._lock:
            now = _now(self.app)
            load = self.build(now)
            self.latest = load
        region = getattr(self.app.state, "region", None)
        if region is None:
            return load  # no addresses: a faster office nobody can find is not named
        services: dict[str, Any] = getattr(self.app.state, "services", {}) or {}
        now = load.at
        for office, svc in services.items():
            svc.set_network(digest(load, office, now))
        link = getattr(self.app.state, "region_link", None)
        publish = getattr(link, "publish_network", None)
        if publish is not None:
            for o in region.file.offices:
                if o.id not in services:
                    try:
                        publish(o.id, digest(load, o.id, now))
                    except Exception:
                        log.exception("network: publishing the network load to %s failed", o.id)
        return load

    def current(self) -> NetworkLoad:
        """The newest summary, refreshed when older than :data:`FRESH_FOR_S` (page reads)."""
        latest = self.latest
        if latest is not None and abs((_now(self.app) - latest.at).total_seconds()) < FRESH_FOR_S:
            return latest
        return self.refresh()

    def fold_closed_days(self, now: dt.datetime | None = None, *, back_days: int = FOLD_BACK_DAYS) -> int:
        """Fold every network office's closed days of the last ``back_days`` not folded yet (into the hourly
        cells and the network report's day summaries), once per UTC day: the network report then finds
        them ready instead of folding a month of every office when first asked. Returns the days folded."""
        now = now or _now(self.app)
        if self._folded_on == now.date():
            return 0
        region = getattr(self.app.state, "region", None)
        services: dict[str, Any] = getattr(self.app.state, "services", {}) or {}
        configs = dict(region.configs) if region is not None else {o: s.config for o, s in services.items()}
        store = getattr(self.app.state, "store", None)
        if store is None or not configs:
            return 0
        zones = {o: cfg.office.tz for o, cfg in configs.items()}
        closed = {o: now.astimezone(z).date() - dt.timedelta(days=1) for o, z in zones.items()}
        first = min(closed.values()) - dt.timedelta(days=back_days - 1)
        folded = refresh_network(store, zones, first, closed)
        self._folded_on = now.date()
        if folded:
            log.info("network: folded %d closed office-days for the network report", folded)
        return folded

    def start(self, interval: float = REFRESH_S) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # retried at the next round; the offices keep their last copy
                    log.exception("network: refresh failed")
                try:
                    self.fold_closed_days()
                except Exception:  # retried at the next round; the report folds what it lacks itself
                    log.exception("network: folding the closed days failed")

        self._thread = threading.Thread(target=run, name="cherga-network", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def attach_network(app: FastAPI, starts: list[Any], stops: list[Any], interval: float | None = REFRESH_S) -> None:
    """``app.state.network``; with ``interval``, a refresh every that many seconds while the app runs
    (started only when a region file is loaded or several offices are served)."""
    watch = NetworkWatch(app)
    app.state.network = watch

    def start(app: FastAPI) -> None:
        if interval and (getattr(app.state, "region", None) is not None or len(app.state.services) > 1):
            watch.refresh()
            watch.start(interval)

    starts.append(start)
    stops.append(lambda app: watch.stop())


def _watch(request: Request) -> NetworkWatch:
    watch = getattr(request.app.state, "network", None)
    if watch is None:
        watch = request.app.state.network = NetworkWatch(request.app)
    return watch


def _lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"), "uk")


def _name(names: Mapping[Any, str], lang: str) -> str:
    return names.get(lang) or names.get("en") or next(iter(names.values()), "")


def _context(request: Request, lang: str) -> dict[str, Any]:
    load = _watch(request).current()
    region = getattr(request.app.state, "region", None)
    now = load.at
    offices = []
    for o in load.offices:
        fresh = abs(now - o.updated_at) <= STALE_AFTER
        services = [{
            "id": s.service, "name": _name(s.names, lang), "waiting": s.waiting, "open": s.counters_open,
            "wait_min": s.wait_min, "wait_max_min": s.wait_max_min,
            "light": forecast_light(s.waiting, s.counters_open, s.wait_min, 0.0),
        } for s in o.services] if fresh else []
        tz = region.configs[o.office].office.tz if region is not None else request.app.state.services[o.office].config.office.tz
        offices.append({"id": o.office, "name": _name(o.names, lang), "address": _name(o.address, lang),
                        "open": o.open_now, "fresh": fresh, "services": services,
                        "heard": o.updated_at.astimezone(tz).strftime("%H:%M") if o.updated_at.year > 1970 else None})
    title = _name(region.file.region.names.as_dict(), lang) if region is not None else ""
    first = next(iter(request.app.state.services.values()), None)
    zone = first.config.office.tz if first is not None else dt.UTC
    return {"request": request, "lang": lang, "t": catalog(lang), "offices": offices, "region_name": title,
            "langs": [(code, catalog(code).get("lang_name", code)) for code in LANGUAGES],
            "updated": now.astimezone(zone).strftime("%H:%M"), "refresh_s": REFRESH_S}


def _html(request: Request, name: str, lang: str) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, _context(request, lang))
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/network", response_class=HTMLResponse)
def network_page(request: Request) -> HTMLResponse:
    """Every office of the network, per service: the forecast for a ticket taken now, waiting, desks open."""
    return _html(request, "network.html", _lang(request))


@router.get("/network/part", response_class=HTMLResponse)
def network_part(request: Request) -> HTMLResponse:
    """The page's offices only: what its script swaps in at each refresh."""
    return _html(request, "network_part.html", _lang(request))


@router.get("/network.json")
def network_json(request: Request) -> JSONResponse:
    """The network's load as the offices receive it (``NetworkLoad``; public, no personal data, CORS open)."""
    load = _watch(request).current()
    return JSONResponse(load.model_dump(mode="json"), headers={"Access-Control-Allow-Origin": "*",
                                                              "Cache-Control": "no-store"})


@router.get("/network/static/network.js")
def network_js() -> Response:
    return Response((HERE / "static" / "network.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "max-age=3600"})
