"""The office's side of the downward configuration (issue 21): it takes the region's retained push
(``cherga/v1/<office>/region/config``, contract route ``region_config``) from its own broker, where
the Mosquitto bridge to the region brought it, checks it, and applies it.

What a push does here (:func:`apply_push`), in this order:

1. Refused, nothing changed, a log line and ``cherga_region_config_total{outcome="refused_<why>"}``: a push
   for another office, a config that does not validate (with the office's own Pi nodes and enrollment
   list, which the office keeps), a staff account that is not well-formed (a plain secret, an unknown
   role, an account not for this office).
2. Ignored: a version not above the one applied (kept in ``region_config_applied``, so a restart
   that hears the retained push again does not apply it twice).
3. Held: a config that would strand a visitor or a counter in use (a service removed while tickets
   for it are open: :func:`cherga.server.admin.live.change_problems`, the administration pages'
   check) waits, and is tried again every ``retry_s`` and at the next push, until it goes through.
4. Applied: the config through :func:`cherga.server.admin.live.save_and_apply` (a new config version
   by ``region``, the live reconfigure of the service and the bridge, the YAML file), the same door
   the administration pages use; then, in one transaction, the staff accounts upserted (their
   sessions end when role, secret, offices or state changed), the accounts the region managed and
   no longer sends locked, and the applied version recorded. Accounts made at the office itself are
   never touched; an office account with a name the region sends becomes the region's.

A push is applied at most once; a crash between the config and the staff leaves the version
unrecorded, and the retained push applies again on restart (the config, already equal, saves no
second version). docs/region.md, "Downward: configuration and staff".
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import os
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, insert, select, update

from cherga.broker_bridge import contract
from cherga.broker_bridge.client import server_client
from cherga.broker_bridge.contract import ContractError, Ident, RegionConfigPush
from cherga.server.admin import live
from cherga.server.db import schema
from cherga.server.region.downward import OFFICE_MACHINE_FIELDS
from cherga.server.siteconfig import SiteConfig, validate_site_data
from cherga.server.store import Store, offices_column

log = logging.getLogger(__name__)

#: the author of the config versions a push saves (the Versions page shows it)
AUTHOR = "region"
_ARGON2 = r"^\$argon2(id|i|d)\$\S{20,200}$"


class PushedAccount(BaseModel):
    """One staff account as the region sends it: hashes only (a field holding anything else is refused)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")
    display_name: str = Field(min_length=1, max_length=120)
    role: Literal["operator", "hall_manager", "admin"]
    password_hash: str | None = Field(default=None, pattern=_ARGON2)
    pin_hash: str | None = Field(default=None, pattern=_ARGON2)
    pin_tag: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    active: bool = True
    offices: list[Ident] | None = None


Outcome = Literal["applied", "ignored_old", "held", "refused_office", "refused_config", "refused_staff",
                  "refused_payload"]


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: Outcome
    version: int | None
    detail: str = ""
    config_version: int | None = None  # the config_versions number saved (applied with a changed config)


@dataclasses.dataclass(frozen=True)
class Applied:
    version: int
    applied_at: dt.datetime
    config_version: int | None
    staff: tuple[str, ...]


def applied(store: Store, office: str) -> Applied | None:
    """The newest push this office applied (``None``: never managed by the region)."""
    t = schema.region_config_applied
    with store.reading() as conn:
        row = conn.execute(select(t).where(t.c.office == office)).mappings().first()
    if row is None:
        return None
    return Applied(int(row["version"]), row["applied_at"], row["config_version"], tuple(row["staff"] or ()))


def office_state(app_state: Any, office: str) -> Any:
    """What :func:`live.save_and_apply` needs for ``office`` on this server: the app's state itself for
    the first office (the administration pages' office), else a view of that office's parts."""
    service = app_state.services[office] if hasattr(app_state, "services") else app_state.service
    if app_state.service is service:
        return app_state
    return types.SimpleNamespace(service=service, bridge=(getattr(app_state, "bridges", None) or {}).get(office),
                                 config_path=(getattr(app_state, "config_paths", None) or {}).get(office),
                                 config=service.config)


def _problems_text(problems: list[Any]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems[:5]) + (" ..." if len(problems) > 5 else "")


def _check(office: str, service: Any, push: RegionConfigPush) -> tuple[Result | None, SiteConfig | None,
                                                                       list[PushedAccount] | None]:
    """The push's config (with the office's machine fields) and accounts, or why it is refused."""
    if push.office != office:
        return Result("refused_office", push.version, f"the push is for office {push.office!r}"), None, None
    config = None
    if push.config is not None:
        data = dict(push.config)
        own = service.config.model_dump(exclude_unset=True)
        for name in OFFICE_MACHINE_FIELDS:
            data.pop(name, None)
            if name in own:
                data[name] = own[name]
        config, problems = validate_site_data(data)
        if config is None:
            return Result("refused_config", push.version, _problems_text(problems)), None, None
        if config.office.id != office:
            return Result("refused_config", push.version, f"office.id: {config.office.id!r} is not {office!r}"), None, None
    accounts = None
    if push.staff is not None:
        try:
            accounts = [PushedAccount.model_validate(a) for a in push.staff]
        except ValidationError as exc:
            first = exc.errors()[0]
            return Result("refused_staff", push.version,
                          f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"), None, None
        names = [a.username for a in accounts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            return Result("refused_staff", push.version, f"account given twice: {', '.join(twice)}"), None, None
        foreign = [a.username for a in accounts if a.offices is not None and office not in a.offices]
        if foreign:
            return Result("refused_staff", push.version, f"accounts not for this office: {', '.join(foreign)}"), None, None
    return None, config, accounts


def _apply_staff(store: Store, office: str, version: int, accounts: list[PushedAccount] | None,
                 config_version: int | None, at: dt.datetime) -> None:
    """Upsert the accounts, lock the ones the region dropped, record the version: one transaction."""
    s, sess, t = schema.staff, schema.sessions, schema.region_config_applied
    with store.transaction() as tx:
        conn = tx.conn
        row = conn.execute(select(t).where(t.c.office == office)).mappings().first()
        before = set(row["staff"] or ()) if row is not None else set()
        managed = before
        if accounts is not None:
            managed = {a.username for a in accounts}
            ending: set[str] = set()
            for a in accounts:
                values: dict[str, Any] = {"display_name": a.display_name, "role": a.role, "password_hash": a.password_hash,
                          "pin_hash": a.pin_hash, "pin_tag": a.pin_tag, "active": a.active,
                          "offices": offices_column(a.offices)}
                old = conn.execute(select(s).where(s.c.username == a.username)).mappings().first()
                if old is None:
                    conn.execute(insert(s).values(username=a.username, created_at=at, **values))
                    continue
                if a.username not in before:
                    log.warning("region config: office account %r is now managed by the region", a.username)
                if any(old[k] != values[k] for k in ("role", "password_hash", "pin_hash", "active", "offices")):
                    ending.add(a.username)  # a session carries the role and secret it was opened with
                conn.execute(update(s).where(s.c.username == a.username).values(**values))
            dropped = sorted(before - managed)
            if dropped:
                conn.execute(update(s).where(s.c.username.in_(dropped)).values(active=False))
                log.info("region config: accounts the region no longer sends are locked: %s", ", ".join(dropped))
            ending |= set(dropped)
            if ending:
                conn.execute(delete(sess).where(sess.c.username.in_(sorted(ending))))
        record: dict[str, Any] = {"version": version, "applied_at": at, "config_version": config_version,
                                  "staff": sorted(managed)}
        if row is None:
            conn.execute(insert(t).values(office=office, **record))
        else:
            conn.execute(update(t).where(t.c.office == office).values(**record))


def apply_push(app_state: Any, office: str, push: RegionConfigPush) -> Result:
    """Check and apply one push at ``office`` (see the module docstring for the rules)."""
    state = office_state(app_state, office)
    service = state.service
    store: Store = service.store
    done = applied(store, office)
    if done is not None and push.version <= done.version:
        return Result("ignored_old", push.version, f"version {done.version} is applied already")
    refused, config, accounts = _check(office, service, push)
    if refused is not None:
        return refused
    saved = None
    if config is not None and config != service.config:
        problems = live.change_problems(service, config)
        if problems:
            return Result("held", push.version, _problems_text(problems))
        saved = live.save_and_apply(state, config, author=AUTHOR, comment=f"region version {push.version}")
        configs = getattr(app_state, "configs", None)
        if isinstance(configs, dict):
            configs[office] = config
    _apply_staff(store, office, push.version, accounts, saved.version if saved else None, service.now())
    return Result("applied", push.version, config_version=saved.version if saved else None)


class RegionConfigMetrics:
    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.version: int | None = None  # the version in force here

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Applier:
    """The office's subscriber to its ``region/config`` on its own broker (client id
    ``cherga-region-config-OFFICE``, a persistent session), applying pushes on a worker thread of its
    own (the MQTT loop keeps its keepalive). One per office: with several server processes
    (``--instance``), give ``--from-region`` to one of them.

    Only the newest push waiting is kept, and a push is applied once no newer one has come for
    ``settle_s``: an office back online gets, in one burst, the pushes its bridge's broker session
    queued while it was away and then the retained one, and takes only the newest of them."""

    def __init__(self, app_state: Any, office: str, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, client_id: str | None = None, retry_s: float = 60.0,
                 settle_s: float = 1.0) -> None:
        self.app_state = app_state
        self.office = office
        self.host, self.port = host, port
        self.retry_s = retry_s
        self.settle_s = settle_s
        self._arrived = 0.0  # time.monotonic() of the newest push heard
        self.metrics = RegionConfigMetrics()
        self.results: collections.deque[Result] = collections.deque(maxlen=100)  # the latest outcomes, oldest first
        self._wake = threading.Condition()
        self._waiting: RegionConfigPush | None = None  # the newest push not yet applied (or held)
        self._held = False
        self._running = False
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"cherga-region-config-{office}", daemon=True)
        self.topic = contract.topic("region_config", office)
        # A persistent session under a fixed id: a push the bridge brings in while this server is down
        # waits in the office broker (the retained copy covers a push heard but not yet applied).
        instance = os.environ.get("CHERGA_INSTANCE")
        self.client = server_client(client_id or f"cherga-region-config-{office}" + (f"-{instance}" if instance else ""),
                                    clean_session=False, username=username, password=password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *a: self._subscribed.clear()
        self.client.on_message = self._on_message
        done = applied(self._store, office)
        self.metrics.version = done.version if done else None

    @property
    def _store(self) -> Store:
        store: Store = office_state(self.app_state, self.office).service.store
        return store

    def start(self, wait: float | None = 10.0) -> Applier:
        self._running = True
        self._thread.start()
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()
        if wait and not self._subscribed.wait(wait):
            log.warning("region config: broker %s:%s not reachable yet; retrying in the background", self.host, self.port)
        return self

    def stop(self) -> None:
        self._running = False
        with self._wake:
            self._wake.notify_all()
        self.client.disconnect()
        self.client.loop_stop()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("region config: broker refused the connection: %s", reason)
            return
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if any(getattr(rc, "is_failure", False) for rc in reason_codes):
            log.error("region config: the broker refused our subscription to %s (ACL?)", self.topic)
        self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if not msg.payload:
            return  # the retained push cleared
        try:
            decoded = contract.decode(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            self._record(Result("refused_payload", None, str(exc)))
            return
        push = decoded.message
        assert isinstance(push, RegionConfigPush)
        if decoded.office != self.office:
            self._record(Result("refused_office", push.version, f"topic of office {decoded.office!r}"))
            return
        with self._wake:
            if self._waiting is None or push.version > self._waiting.version:
                self._waiting, self._held = push, False
                self._arrived = time.monotonic()
            self._wake.notify_all()

    def _work(self) -> None:
        while self._running:
            with self._wake:
                while self._running and (self._waiting is None or self._held):
                    if not self._wake.wait(self.retry_s if self._held else None) and self._held:
                        self._held = False  # the retry time is up: try the held push again
                if not self._running:
                    return
                quiet = self._arrived + self.settle_s - time.monotonic()
                if quiet > 0:  # more of a burst may be on its way: wait for it to end
                    self._wake.wait(quiet)
                    continue
                push = self._waiting
            assert push is not None
            try:
                result = apply_push(self.app_state, self.office, push)
            except Exception as exc:  # a fault of this office (disk, database): tried again after retry_s
                log.exception("region config: version %s could not be applied", push.version)
                result = Result("held", push.version, f"{type(exc).__name__}: {exc}")
            self._record(result)
            with self._wake:
                if self._waiting is push:
                    if result.outcome == "held":
                        self._held = True
                    else:
                        self._waiting = None

    def retry_now(self) -> None:
        """Try a held push again at once (the hall manager cleared the tickets that held it)."""
        with self._wake:
            self._held = False
            self._wake.notify_all()

    def _record(self, result: Result) -> None:
        self.results.append(result)
        self.metrics.count(result.outcome)
        if result.outcome == "applied":
            self.metrics.version = result.version
            log.info("region config: version %s applied at office %s%s", result.version, self.office,
                     f" (config version {result.config_version})" if result.config_version else " (config unchanged)")
        elif result.outcome == "ignored_old":
            log.info("region config: version %s ignored at office %s: %s", result.version, self.office, result.detail)
        elif result.outcome == "held":
            log.warning("region config: version %s held at office %s, tried again in %.0f s: %s", result.version,
                        self.office, self.retry_s, result.detail)
        else:
            log.error("region config: push %s refused at office %s (%s): %s", result.version, self.office,
                      result.outcome, result.detail)


class RegionConfigCollector(Collector):
    """``cherga_region_config`` (pushes per outcome) and ``cherga_region_config_version`` per office."""

    def __init__(self, appliers: Callable[[], dict[str, Applier]]) -> None:
        self._appliers = appliers

    def collect(self) -> Iterator[Any]:
        outcomes = CounterMetricFamily("cherga_region_config", "Region config pushes per outcome",
                                       labels=["office", "outcome"])
        version = GaugeMetricFamily("cherga_region_config_version", "The region config version in force",
                                    labels=["office"])
        for office, a in sorted(self._appliers().items()):
            for outcome, n in sorted(a.metrics.outcomes.items()):
                outcomes.add_metric([office, outcome], n)
            if a.metrics.version is not None:
                version.add_metric([office], a.metrics.version)
        yield from (outcomes, version)


def read_credentials(offices: list[str], path: Path | None) -> dict[str, tuple[str | None, str | None]]:
    """Each office's broker user for its applier: ``path`` is the ``config-credentials.yaml`` of
    ``cherga region provision`` (the office broker user ``<office>.config``), or a directory of
    ``<office>.yaml``; ``None``: no user (a development broker that takes anonymous clients)."""
    from cherga.server.region.link import read_credentials as read_file

    out: dict[str, tuple[str | None, str | None]] = {}
    for office in offices:
        file = path / f"{office}.yaml" if path is not None and path.is_dir() else path
        if file is None:
            out[office] = (None, None)
        else:
            user, password, _ = read_file(file)
            out[office] = (user, password)
    return out


def hooks(host: str, port: int, credentials: dict[str, tuple[str | None, str | None]] | None = None,
          *, retry_s: float = 60.0) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """Start and stop hooks for ``create_app``: one :class:`Applier` per office the app serves, on the
    office broker at ``host:port`` (as the office's config user, ``credentials`` by office id: never the
    bridge's or the uplink's user, since a provisioned broker makes each user name its client id;
    ``cherga server --mqtt ... --from-region --region-config-credentials FILE``). Their counts join
    the app's ``/metrics``."""

    def start(app: Any) -> None:
        if not hasattr(app.state, "region_appliers"):
            app.state.region_appliers = {}
            metrics = getattr(app.state, "metrics", None)
            if metrics is not None:
                metrics.registry.register(RegionConfigCollector(lambda: app.state.region_appliers))
        for office in app.state.services:
            username, password = (credentials or {}).get(office, (None, None))
            app.state.region_appliers[office] = Applier(app.state, office, host, port, username=username,
                                                        password=password, retry_s=retry_s).start(wait=None)

    def stop(app: Any) -> None:
        for office in list(getattr(app.state, "region_appliers", {})):
            app.state.region_appliers.pop(office).stop()

    return start, stop
