"""The office server's web application: the REST API (``/api/v1``), health, metrics, and the hook
other components' routers plug into (the live ticket page behind each ticket's QR is ``server.ticketpage``).

:func:`create_app` builds the FastAPI app around one :class:`~server.service.OfficeService` per
office (one config, or several: many offices on one server, issue 21); :func:`run_server` serves it
with uvicorn (and starts one MQTT bridge per office when asked). :func:`load_office_configs` reads
``-c`` as given: one file, several files, or a directory of ``*.yaml``.

Other components add routers without touching this file: when ``server.panel`` (the operator
web panel) or ``server.analytics`` (reports) exposes a module attribute ``router``, it is included.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cherga.server.accounts import ensure_demo_accounts
from cherga.server.api import auth as auth_api
from cherga.server.api import counters, offices, tickets
from cherga.server.api.models import Health
from cherga.server.errors import Forbidden, ServiceError, StoreFailed
from cherga.server.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware, may_scrape
from cherga.server.notify.engine import attach_notifications
from cherga.server.service import OfficeService, utc_now
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import Store, store_unreachable

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# Routers other components own; each is included when its module exists and exposes ``router``.
PLUGIN_ROUTERS = ("cherga.server.panel", "cherga.server.analytics", "cherga.server.mirror", "cherga.server.updates",
                  "cherga.server.ticketpage", "cherga.server.informing", "cherga.server.admin",
                  "cherga.server.region.pages")

def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _install_error_handlers(app: FastAPI) -> None:
    # A browser navigating to a page gets a page in its language with the way back; the API keeps JSON.
    from cherga.server.panel.error_page import error_page, wants_page

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if wants_page(request):
            return error_page(request, exc.status, exc=exc, headers=headers)
        return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if wants_page(request):
            return error_page(request, 422)
        errors = [{"field": _field(e.get("loc", ())), "reason": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "request", "reason": "invalid"}
        return JSONResponse({"key": "invalid_input", "message": f"{first['field']}: {first['reason']}",
                             "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_page(request):
            return error_page(request, exc.status_code, detail=exc.detail, headers=getattr(exc, "headers", None))
        key = {404: "not_found", 405: "method_not_allowed", 401: "token_required", 403: "forbidden"}.get(
            exc.status_code, "http_error")
        return JSONResponse({"key": key, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> Response:
        if not store_unreachable(exc):
            log.error("unhandled database error", exc_info=exc)
            return JSONResponse({"key": "internal_error", "message": "the server failed; it is logged"},
                                status_code=500)
        # The database did not answer (down, a failover under way): the clear refusal a command gets
        # (503 store_failed), not "the server failed"; a load balancer sees /healthz fail.
        log.warning("%s %s: the database did not answer (%s)", request.method, request.url.path, exc)
        return await service_error(request, StoreFailed(unreachable=True))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug, logged
        log.exception("unhandled error")
        return JSONResponse({"key": "internal_error", "message": "the server failed; it is logged"}, status_code=500)


def _include_plugins(app: FastAPI) -> None:
    for name in PLUGIN_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name and name.startswith(exc.name):  # the module itself is absent: nothing to add
                log.debug("%s not installed", name)
                continue
            log.warning("%s failed to import (%s); its pages are not served", name, exc)
            continue
        try:
            router = getattr(module, "router", None)
        except Exception as exc:  # a half-finished plugin must not keep the office from starting
            log.warning("%s.router failed to load (%s); its pages are not served", name, exc)
            continue
        if router is not None:
            app.include_router(router)
            log.info("included routes of %s", name)


class _Sweeper:
    """Runs each service's :meth:`~server.service.OfficeService.sweep` every ``interval`` seconds."""

    def __init__(self, services: list[OfficeService], interval: float) -> None:
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cherga-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for svc in self.services:
                try:
                    svc.sweep()
                except Exception as exc:  # keep sweeping; a failed sweep is retried next time
                    if store_unreachable(exc):  # a failover under way: one line a second, not a traceback
                        log.warning("sweep of %s: the database did not answer (%s)", svc.office, exc)
                    else:
                        log.exception("sweep of %s failed", svc.office)


def _office_configs(config: SiteConfig | Sequence[SiteConfig]) -> list[SiteConfig]:
    configs = [config] if isinstance(config, SiteConfig) else list(config)
    if not configs:
        raise ValueError("a server needs at least one office configuration")
    ids = [c.office.id for c in configs]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"office id given twice: {', '.join(twice)} (each office's config needs its own office.id)")
    return configs


def create_app(config: SiteConfig | Sequence[SiteConfig], store_url: str, *, clock: Callable[[], Any] = utc_now,
               store: Store | None = None, sweep_interval: float | None = 1.0, demo_accounts: bool = False,
               on_start: list[Callable[[FastAPI], None]] | None = None,
               on_stop: list[Callable[[FastAPI], None]] | None = None) -> FastAPI:
    """The office server app for ``config`` on the store at ``store_url`` (migrated on open).

    ``config`` may be several offices' configs: each gets its own service (numbering, queues,
    events, notifications, sweeps) on the one store; ``app.state.services`` maps office id to
    service. ``app.state.service``/``app.state.config`` are the first office's, for the pages that
    serve one office only (docs/server.md, "Several offices on one server").

    ``sweep_interval``: seconds between no-show sweeps (``None``: no background sweeper, tests call
    ``sweep()``). ``on_start``/``on_stop``: callables run with the app in its lifespan (the bridge).
    """
    own_store = store is None
    store = store or Store(store_url)
    if demo_accounts:
        ensure_demo_accounts(store)
    configs = _office_configs(config)
    services = {c.office.id: OfficeService(c, store, clock=clock) for c in configs}
    service = services[configs[0].office.id]
    config = configs[0]
    starts = list(on_start or [])
    stops = list(on_stop or [])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = _Sweeper(list(services.values()), sweep_interval) if sweep_interval else None
        if sweeper:
            sweeper.start()
        for fn in starts:
            fn(app)
        try:
            yield
        finally:
            for fn in stops:
                try:
                    fn(app)
                except Exception:
                    log.exception("stop hook failed")
            if sweeper:
                sweeper.stop()
            if own_store:
                store.close()

    app = FastAPI(
        title="Cherga office server",
        version="1.0",
        summary="Queue management for public service centres: tickets, counters, live load.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI from vendored files at /docs and /api/v1/docs: server/mirror (offline)
        redoc_url=None,
    )
    app.state.store = store
    app.state.services = services
    app.state.service = service
    app.state.config = config
    app.state.configs = {c.office.id: c for c in configs}
    app.state.clock = clock
    app.state.bridge = None  # the first office's bridge while the MQTT bridges run (run_server --mqtt)
    app.state.bridges = {}  # every office's bridge by office id
    app.state.metrics = Metrics(lambda: services, bridge=lambda: app.state.bridge)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _install_error_handlers(app)
    # Headers and CSP, the Origin check, rate limits, the audit record, the audit log's routes (issue 23).
    from cherga.server.security import install as install_security

    install_security(app)

    for module in (tickets, counters, offices, auth_api):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness and the database")
    def healthz() -> Health:
        # Touches the database for every office served here (each one's event log, an index lookup), so an
        # office whose rows cannot be read makes the server unhealthy, not only the first office's.
        for office in services:
            store.max_event_seq(office)
        return Health(status="ok", offices=list(services), database=store.dialect)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    def metrics(request: Request) -> Response:
        if not may_scrape(request.client.host if request.client else None):
            raise Forbidden("metrics_not_here", "metrics are read from the server's own box or the addresses "
                            "in CHERGA_METRICS_FROM")
        return Response(app.state.metrics.render(), media_type=CONTENT_TYPE)

    # Opt-in notifications (issue 19): a Notifier per office; its outbox threads run beside the queue.
    attach_notifications(app, services, starts, stops)
    # The network's load (issue 21): /network, and each office told the others' load (its faster_at).
    from cherga.server.region.pages import attach_network

    attach_network(app, starts, stops)
    _include_plugins(app)
    return app


def bridge_credentials(configs: Sequence[SiteConfig]) -> dict[str, tuple[str | None, str | None]]:
    """Each office's broker user and password: ``$CHERGA_MQTT_CREDENTIALS/<office>.yaml`` (an office's
    ``server-credentials.yaml`` from ``cherga provision``, copied under its office id) when present, else
    ``CHERGA_MQTT_USER``/``CHERGA_MQTT_PASSWORD``. A broken file stops the server with one line."""
    import yaml

    default = (os.environ.get("CHERGA_MQTT_USER"), os.environ.get("CHERGA_MQTT_PASSWORD"))
    folder = os.environ.get("CHERGA_MQTT_CREDENTIALS")
    out: dict[str, tuple[str | None, str | None]] = {}
    for cfg in configs:
        out[cfg.office.id] = default
        path = Path(folder) / f"{cfg.office.id}.yaml" if folder else None
        if path is None or not path.exists():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            out[cfg.office.id] = (str(data["username"]), str(data["password"]))
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise SystemExit(f"cherga server: {path}: not a server-credentials.yaml with username and password "
                             f"({type(exc).__name__}: {exc})") from None
    return out


def _start_bridge(mqtt: str, config: SiteConfig | Sequence[SiteConfig],
                  wait: float = 10.0) -> tuple[Callable[[FastAPI], None], Callable[[FastAPI], None]]:
    """Start hooks for one bridge per office on the broker at ``mqtt``: each subscribes to its own
    office's subtree with its own client id (``cherga-bridge-OFFICE``), so offices never hear each other."""
    configs = [config] if isinstance(config, SiteConfig) else list(config)
    credentials = bridge_credentials(configs)
    host, _, port_s = mqtt.rpartition(":")
    if not host:
        host, port_s = port_s, "1883"
    try:
        port = int(port_s)
    except ValueError:
        raise SystemExit(f"--mqtt must be HOST:PORT, not {mqtt!r}") from None
    holder: dict[str, Any] = {}

    def start(app: FastAPI) -> None:
        try:
            from cherga.broker_bridge.bridge import start_bridge
        except ImportError as exc:
            log.error("MQTT bridge not available (%s): serving REST only, nodes will not be reached", exc)
            return
        for cfg in configs:
            office = cfg.office.id
            username, password = credentials[office]
            bridge = start_bridge(app.state.services[office], host, port, config=cfg, username=username,
                                  password=password, wait=wait,
                                  instance=os.environ.get("CHERGA_INSTANCE") or None,
                                  # a kiosk's contact is kept through the office's notifier (issue 19)
                                  notifier=(getattr(app.state, "notifiers", None) or {}).get(office))
            holder[office] = bridge
            app.state.bridges[office] = bridge
            # Say what is true: the bridge keeps retrying in the background and logs when it gets through.
            if bridge.connected:
                log.info("MQTT bridge connected to %s:%s (office %s)", host, port, office)
            else:
                log.error("MQTT broker %s:%s not reachable: nodes of %s are not served until the bridge "
                          "connects (it keeps retrying and logs 'bridge: connected' when it does)", host, port, office)
        app.state.bridge = holder.get(configs[0].office.id)  # the device monitor for one-office pages

    def stop(app: FastAPI) -> None:
        app.state.bridge = None
        for office in list(holder):
            bridge = holder.pop(office)
            app.state.bridges.pop(office, None)
            if hasattr(bridge, "stop"):
                bridge.stop()

    return start, stop


HSTS = "max-age=31536000"  # a year: once a browser has seen the office over HTTPS it never tries plain HTTP


def _insecure_warnings(host: str, tls: bool, mqtt: str | None) -> list[str]:
    """What an office on this set-up should hear loudly: plain HTTP or MQTT beyond this machine."""
    out = []
    loopback = host in ("127.0.0.1", "::1", "localhost")
    if not tls and not loopback:
        out.append(f"INSECURE: plain HTTP on {host}: passwords and session cookies cross the hall network in "
                   "clear. Give --tls-cert/--tls-key (the office certificate from `cherga provision`).")
    if mqtt and mqtt.rpartition(":")[0] not in ("127.0.0.1", "localhost", "::1", ""):
        out.append(f"INSECURE: the bridge talks plain MQTT to {mqtt}: run the server beside the broker "
                   "(loopback) and let nodes use its TLS listener (inventory broker.tls).")
    return out


def add_hsts(app: FastAPI) -> None:
    """Every answer over HTTPS tells the browser to use nothing else for this office (HSTS)."""

    @app.middleware("http")
    async def hsts(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def office_config_files(paths: Path | Sequence[Path]) -> list[Path]:
    """The config files ``-c`` names: each file as given, each directory's ``*.yaml``/``*.yml`` by name."""
    files: list[Path] = []
    for path in [paths] if isinstance(paths, Path) else list(paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise SystemExit(f"cherga server: {path} holds no *.yaml office configuration")
            files += found
        else:
            files.append(path)
    if not files:
        raise SystemExit("cherga server: give at least one office configuration (-c FILE or -c DIR)")
    return files


def load_office_configs(paths: Path | Sequence[Path]) -> list[tuple[Path, SiteConfig]]:
    """Every office config ``-c`` names, checked together: a broken file or an office id given twice
    stops the server with one clear line, before anything listens."""
    from cherga.server.siteconfig import ConfigError

    loaded: list[tuple[Path, SiteConfig]] = []
    for path in office_config_files(paths):
        try:
            loaded.append((path, load_site_config(path)))
        except ConfigError as exc:
            raise SystemExit(f"cherga server: {exc}") from None
    seen: dict[str, Path] = {}
    for path, cfg in loaded:
        if cfg.office.id in seen:
            raise SystemExit(f"cherga server: office {cfg.office.id!r} is in both {seen[cfg.office.id]} and {path}")
        seen[cfg.office.id] = path
    return loaded


def run_server(config: Path | Sequence[Path], db_url: str, host: str, port: int, mqtt: str | None, *,
               tls_cert: Path | None = None, tls_key: Path | None = None, from_region: bool = False,
               region_config_credentials: Path | None = None,
               region: Path | None = None, mqtt_region: str | None = None, uplink: str | None = None,
               uplink_credentials: Path | None = None) -> None:
    """Serve the office, or several (one uvicorn worker; the services keep their queue views in memory).

    ``config``: one file, several, or directories of ``*.yaml`` (:func:`office_config_files`).

    With ``tls_cert``/``tls_key`` it serves HTTPS only, with HSTS; a certificate replaced on disk is
    taken at the next restart (``systemctl restart cherga-server``), no node is touched.

    The region's event log (issue 21, server/region/link.py): ``region`` serves the region file's
    ``served_by: region`` offices as if given with ``-c`` and, with ``mqtt_region``, runs the intake
    of the other offices' event logs; ``uplink`` sends each office's log up through its broker.
    """
    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        raise SystemExit("cherga server: give both --tls-cert and --tls-key, or neither")

    logging.basicConfig(level=os.environ.get("CHERGA_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loaded = load_office_configs(config) if config or region is None else []
    region_data = None
    if region is not None:
        from cherga.server.region.link import region_offices

        region_data, served = region_offices(region, loaded)
        loaded += served
    cfgs = [cfg for _, cfg in loaded]
    for cfg in cfgs:
        if cfg.enrollment_file is not None:
            # Checked before uvicorn starts: a missing or broken list is one clear line, not a startup traceback.
            from cherga.server.enrollment import EnrollmentList, EnrollmentListError

            try:
                EnrollmentList.load(cfg.enrollment_file)
            except EnrollmentListError as exc:
                raise SystemExit(f"cherga server: {exc}") from None
    starts: list[Callable[[FastAPI], None]] = []
    stops: list[Callable[[FastAPI], None]] = []
    if mqtt:
        start, stop = _start_bridge(mqtt, cfgs)
        starts.append(start)
        stops.append(stop)
    if from_region:
        # The region's retained configuration and staff, which the broker's bridge to the region brings in (issue 21).
        if not mqtt:
            raise SystemExit("cherga server: --from-region needs --mqtt (the office broker bridged to the region)")
        from cherga.server.region.apply import hooks as region_config_hooks
        from cherga.server.region.apply import read_credentials as region_config_users
        from cherga.server.region.link import host_port

        mqtt_host, mqtt_port = host_port(mqtt, "--mqtt")
        start, stop = region_config_hooks(mqtt_host, mqtt_port, region_config_users(
            [c.office.id for c in cfgs], region_config_credentials))
        starts.append(start)
        stops.append(stop)
    if region_data is not None and mqtt_region:
        from cherga.server.region.link import intake_hooks

        start, stop = intake_hooks(region_data, mqtt_region)
        starts.append(start)
        stops.append(stop)
    if uplink:
        from cherga.server.region.link import uplink_hooks

        start, stop = uplink_hooks(cfgs, uplink, uplink_credentials)
        starts.append(start)
        stops.append(stop)
    demo = os.environ.get("CHERGA_DEMO_ACCOUNTS", "") not in ("", "0", "false")
    from cherga.server.clock import clock_from_environment

    app = create_app(cfgs, db_url, clock=clock_from_environment(), demo_accounts=demo, on_start=starts, on_stop=stops)
    # The administration pages write a saved configuration back to its office's file (config_paths[office]).
    app.state.config_path = loaded[0][0]
    app.state.config_paths = {cfg.office.id: path for path, cfg in loaded}
    if region_data is not None:
        app.state.region = region_data  # the network pages' offices and addresses (server/region/pages.py)
    if tls_cert is not None:
        add_hsts(app)
    for warning in _insecure_warnings(host, tls_cert is not None, mqtt):
        log.warning("%s", warning)
    uvicorn.run(app, host=host, port=port, workers=1, access_log=False, log_level="warning",
                timeout_keep_alive=30, ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None)
