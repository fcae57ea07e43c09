"""Downward configuration (issue 21): the region's catalogue, staff and config reach an office over a
real Mosquitto bridge (the office's broker bridged to the regional one under per-office ACLs), and the
office applies them through the administration pages' path, newest first, once.

Every test runs two real brokers on loopback, the region's SQLite store (staff, push versions) and the
office's SQLite store, its real MQTT bridge (what the kiosk reads) and its REST sign-in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import RegionConfigPush
from cherga.server import auth
from cherga.server.admin import versions
from cherga.server.app import create_app
from cherga.server.region import apply, downward
from cherga.server.region.regionfile import Region, load_region
from cherga.server.siteconfig import SiteConfig, parse_site_config
from cherga.server.store import Store, sqlite_url
from tests.bridge.conftest import Watcher
from tests.region.conftest import RegionRig
from tests.server.helpers import Clock, demo_dict
from tests.support.mosquitto import Broker, free_port
from tests.support.wait import wait_until

REGION_USER, REGION_PW = "region", "region-secret"
NODES = [{"id": "k1", "role": "kiosk"}, {"id": "d1", "role": "display"}]
# The new service the region adds to office A: the catalogue defines it (names, prefix, information);
# the office's entry keeps its own daily cap.
PENSION = {"id": "pension", "prefix": "P", "names": {"uk": "Пенсії", "ru": "Пенсии", "ky": "Пенсиялар",
                                                     "kk": "Зейнетақылар", "en": "Pensions"}}
IRYNA_PASSWORD = "iryna-secret-1"


def link_user(office: str) -> str:
    return f"{office}.link"


def office_dict(office: str, *, pension: bool = False, ticker: str | None = None) -> dict[str, Any]:
    data = demo_dict()
    data["office"]["id"] = office
    data["nodes"] = NODES
    if pension:
        # The office lists the service with a stand-in name: the catalogue's definition replaces it.
        data["services"].append({"id": "pension", "prefix": "Z", "daily_cap": 40, "names": {"uk": "(місцева назва)"}})
        data["counters"][0]["services"].append("pension")
    if ticker:
        data["display"]["ticker"] = {"uk": ticker, "en": ticker}
    return data


class Link:
    """The office's line to the region: a TCP relay on loopback between the office broker's bridge and
    the regional broker, which a test cuts (every connection closed, nothing accepted) and restores on
    the same port, while both brokers keep running."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(8)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                inner, _ = server.accept()
            except OSError:
                return  # cut
            outer = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._conns += [inner, outer]
            for a, b in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone leaves it listening
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclasses.dataclass
class Net:
    tmp: Path
    a: str
    b: str
    region_broker: Broker
    office_broker: Broker
    region_store: Store
    office_store: Store
    client: TestClient
    bridge: Bridge
    applier: apply.Applier
    region_path: Path
    link: Link

    @property
    def app_state(self) -> Any:
        return self.client.app.state  # type: ignore[attr-defined]

    def write_office(self, office: str, **kw: Any) -> None:
        (self.tmp / "region" / f"{office}.yaml").write_text(
            yaml.safe_dump(office_dict(office, **kw), allow_unicode=True), encoding="utf-8")

    def region(self) -> Region:
        return load_region(self.region_path)

    def push(self, offices: list[str] | None = None) -> list[downward.Prepared]:
        return downward.push_region(self.region(), self.region_store, "127.0.0.1", self.region_broker.port,
                                    now=dt.datetime.now(dt.UTC), username=REGION_USER, password=REGION_PW,
                                    offices=offices)

    def applied_version(self) -> int | None:
        done = apply.applied(self.office_store, self.a)
        return done.version if done else None

    def wait_applied(self, version: int) -> None:
        wait_until(lambda: self.applied_version() == version, what=lambda: f"version {version} applied at the "
                   f"office (now {self.applied_version()}; outcomes {self.applier.results})")

    def region_versions(self) -> list[str]:
        """The comments of the office's config versions the region saved."""
        return [v.comment for v in versions.versions(self.office_store, self.a) if v.author == apply.AUTHOR]


def start_region_broker(folder: Path, offices: list[str]) -> Broker:
    """The regional Mosquitto: the region server's user reads and writes everything, each office's link
    user only its own office's subtree (the agreed ACL)."""
    folder.mkdir(parents=True)
    creds = {REGION_USER: REGION_PW, **{link_user(o): f"pw-{o}" for o in offices}}
    (folder / "passwd").write_text(broker_config.render_password_file(creds))
    acl = [f"user {REGION_USER}", "topic readwrite cherga/v1/#", "topic readwrite cherga-test/#"]
    for o in offices:
        acl += [f"user {link_user(o)}", f"topic readwrite cherga/v1/{o}/#"]
    (folder / "acl").write_text("\n".join(acl) + "\n")
    broker = Broker(folder, "127.0.0.1", free_port(),
                    extra=f"password_file {folder / 'passwd'}\nacl_file {folder / 'acl'}\n")
    broker.start()
    return broker


def bridge_lines(office: str, region_port: int, *, also: str | None = None) -> str:
    """The office broker's bridge to the region (mosquitto.conf), carrying the office's config in.
    ``also``: another office's config topic asked for as well (the region's ACL must keep it out)."""
    lines = [f"connection region-{office}", f"address 127.0.0.1:{region_port}",
             f"remote_clientid {link_user(office)}", f"remote_username {link_user(office)}",
             f"remote_password pw-{office}", "cleansession false", "restart_timeout 1", "notifications false",
             f"topic {contract.topic('region_config', office)} in 1"]
    if also:
        lines.append(f"topic {contract.topic('region_config', also)} in 1")
    return "\n".join(lines) + "\n"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    a, b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    region_dir = tmp_path / "region"
    region_dir.mkdir()
    (region_dir / "catalogue.yaml").write_text(yaml.safe_dump({"services": [PENSION]}, allow_unicode=True),
                                               encoding="utf-8")
    for office in (a, b):
        (region_dir / f"{office}.yaml").write_text(yaml.safe_dump(office_dict(office), allow_unicode=True),
                                                   encoding="utf-8")
    address = {"uk": "вул. Соборна, 1", "en": "1 Soborna St"}
    region_path = region_dir / "region.yaml"
    region_path.write_text(yaml.safe_dump({
        "region": {"id": "city", "names": {"uk": "Місто", "en": "City"}},
        "catalogue": "catalogue.yaml",
        "offices": [{"id": a, "config": f"{a}.yaml", "served_by": "own", "address": address},
                    {"id": b, "config": f"{b}.yaml", "served_by": "own", "address": address}]},
        allow_unicode=True), encoding="utf-8")
    region_store = Store(sqlite_url(tmp_path / "region.db"))
    region_broker = start_region_broker(tmp_path / "region-broker", [a, b])
    link = Link(region_broker.port)
    office_broker = Broker(tmp_path / "office-broker", "127.0.0.1", free_port(),
                           extra=bridge_lines(a, link.port, also=b))
    office_broker.start()
    # The office: its config file, store, app (REST sign-in), MQTT bridge (what nodes read) and applier.
    config_path = tmp_path / "office-a.yaml"
    config_path.write_text(yaml.safe_dump(office_dict(a), allow_unicode=True), encoding="utf-8")
    config = parse_site_config(config_path.read_text(encoding="utf-8"))
    office_store = Store(sqlite_url(tmp_path / "office.db"))
    app = create_app(config, "", store=office_store, sweep_interval=None, clock=Clock())
    app.state.config_path = config_path
    client = TestClient(app)
    bridge = start_bridge(app.state.service, "127.0.0.1", office_broker.port, config=config)
    app.state.bridge = bridge
    app.state.bridges[a] = bridge
    applier = apply.Applier(app.state, a, "127.0.0.1", office_broker.port, settle_s=1.0)
    applier.start()
    n = Net(tmp_path, a, b, region_broker, office_broker, region_store, office_store, client, bridge, applier,
            region_path, link)
    try:
        yield n
    finally:
        applier.stop()
        bridge.stop()
        client.close()
        office_broker.stop()
        link.cut()
        region_broker.stop()
        office_store.close()
        region_store.close()


def add_region_staff(n: Net) -> None:
    """Iryna works at office A only, Bohdan at B only, Halyna is the region's administrator (every office)."""
    auth.create_account(n.region_store, username="iryna", role="operator", password=IRYNA_PASSWORD, pin="5151",
                        display_name="Ірина Бондар", offices=(n.a,))
    auth.create_account(n.region_store, username="bohdan", role="operator", password="bohdan-secret-1",
                        display_name="Богдан", offices=(n.b,))
    auth.create_account(n.region_store, username="halyna", role="admin", password="halyna-secret-1",
                        display_name="Галина")


def sign_in(n: Net, username: str, password: str) -> int:
    return n.client.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def kiosk_services(watcher: Watcher, office: str, wanted: str) -> list[dict[str, Any]]:
    """The services of the newest kiosk config that lists ``wanted`` (waits for it)."""
    cfg = watcher.wait_for(lambda t, d: t == contract.topic("node_config", office, node="k1")
                           and any(s["id"] == wanted for s in d.get("services", [])))
    services: list[dict[str, Any]] = cfg["services"]
    return services


# --- tests --------------------------------------------------------------------------------------------


def test_a_push_reaches_the_office_its_kiosk_offers_the_new_service_and_the_new_operator_signs_in(net: Net) -> None:
    n = net
    add_region_staff(n)
    kiosk = Watcher("127.0.0.1", n.office_broker.port, contract.topic("node_config", n.a, node="k1"))
    try:
        assert not any(s["id"] == "pension" for s in kiosk.wait_for(lambda t, d: True)["services"])
        assert sign_in(n, "iryna", IRYNA_PASSWORD) == 401
        n.write_office(n.a, pension=True)
        (pushed,) = n.push([n.a])
        assert pushed.changed and pushed.push.version == 1
        n.wait_applied(1)
        # The kiosk is told the new service under the catalogue's name and prefix (not the office's stand-in).
        pension = next(s for s in kiosk_services(kiosk, n.a, "pension") if s["id"] == "pension")
    finally:
        kiosk.close()
    assert pension["prefix"] == "P" and pension["names"]["uk"] == "Пенсії"
    running = n.app_state.service.config
    assert running.service("pension").daily_cap == 40  # the office's own cap stays
    assert running.nodes is not None and [x.id for x in running.nodes] == ["k1", "d1"]  # its devices stay
    # A citizen can take a ticket for it at once.
    ticket = n.app_state.service.issue_ticket(service="pension", language="uk", source="test",
                                              command_id=uuid.uuid4().hex)
    assert ticket.label.startswith("P")
    # Iryna and the regional administrator sign in with the passwords they set at the region; Bohdan (B) is not here.
    assert sign_in(n, "iryna", IRYNA_PASSWORD) == 200
    assert sign_in(n, "halyna", "halyna-secret-1") == 200
    assert n.office_store.staff("bohdan") is None
    # Her PIN works at a counter pad too (the hash and tag came down, never the PIN).
    assert auth.verify_sign_in(n.office_store, operator=None, pin="5151", authenticated=False).username == "iryna"
    # The change is an ordinary config version by the region, and the YAML file the next start reads holds it.
    assert n.region_versions() == ["region version 1"]
    assert "pension" in (n.tmp / "office-a.yaml").read_text(encoding="utf-8")
    assert "5151" not in json.dumps(pushed.push.staff) and IRYNA_PASSWORD not in json.dumps(pushed.push.staff)


def test_an_office_offline_for_two_pushes_applies_only_the_newest_when_its_link_returns(net: Net) -> None:
    n = net
    n.push([n.a])
    n.wait_applied(1)
    n.link.cut()  # the line to the region is down; the office, its broker and the region run on
    n.write_office(n.a, ticker="second")
    assert n.push([n.a])[0].push.version == 2
    n.write_office(n.a, ticker="third")
    assert n.push([n.a])[0].push.version == 3
    assert n.applied_version() == 1
    n.link.restore()  # the bridge's session at the region hands over version 2, then 3, then the retained 3
    n.wait_applied(3)
    assert n.app_state.service.config.display.ticker.uk == "third"
    assert n.region_versions() == ["region version 3"]  # version 1 changed nothing, 2 was never applied
    assert [r.version for r in n.applier.results if r.outcome == "applied"] == [1, 3]


def test_a_restarted_office_does_not_apply_the_retained_push_again_and_an_old_version_changes_nothing(net: Net) -> None:
    n = net
    n.write_office(n.a, ticker="from the region")
    n.push([n.a])
    n.wait_applied(1)
    saved = versions.versions(n.office_store, n.a)
    # A new process on the same database hears the retained push again: ignored.
    n.applier.stop()
    again = apply.Applier(n.app_state, n.a, "127.0.0.1", n.office_broker.port, settle_s=0.2).start()
    try:
        wait_until(lambda: again.results, what="the retained push heard by the new applier")
        assert again.results[0].outcome == "ignored_old"
        # An old version sent again (a stale retained message, a replay) is ignored too.
        n.write_office(n.a, ticker="older content")
        stale = RegionConfigPush(office=n.a, version=1, config=downward.office_config(n.region(), n.a, None),
                                 staff=[], at=dt.datetime.now(dt.UTC))
        Watcher("127.0.0.1", n.office_broker.port).publish(contract.topic("region_config", n.a), stale.to_bytes())
        wait_until(lambda: len(again.results) >= 2, what="the stale push handled")
    finally:
        again.stop()
    assert again.results[1].outcome == "ignored_old"
    assert versions.versions(n.office_store, n.a) == saved
    assert n.app_state.service.config.display.ticker.uk == "from the region"


def test_a_push_for_another_office_is_never_applied(net: Net) -> None:
    n = net
    add_region_staff(n)
    # B's push is on the regional broker; the office broker asked for B's topic too, and the region's ACL
    # keeps it out. A's push comes after it on the same link, so once A's is in, B's would have been too.
    local_b = Watcher("127.0.0.1", n.office_broker.port, contract.topic("region_config", n.b))
    at_region = Watcher("127.0.0.1", n.region_broker.port, contract.topic("region_config", n.b),
                        username=REGION_USER, password=REGION_PW)
    try:
        n.write_office(n.b, pension=True)
        n.push([n.b])
        at_region.wait_for(lambda t, d: d["office"] == n.b)  # it is really there, at the region
        n.push([n.a])
        n.wait_applied(1)
        assert local_b.payloads(contract.topic("region_config", n.b)) == []
        # And a push for B arriving on A's own topic (a misrouted message) is refused and changes nothing.
        foreign = RegionConfigPush(office=n.b, version=9, config=downward.office_config(n.region(), n.b, None),
                                   staff=[], at=dt.datetime.now(dt.UTC))
        local_b.publish(contract.topic("region_config", n.a), foreign.to_bytes())
        wait_until(lambda: any(r.outcome == "refused_office" for r in n.applier.results), what="B's push refused")
    finally:
        local_b.close()
        at_region.close()
    assert n.applied_version() == 1
    assert not any(s.id == "pension" for s in n.app_state.service.config.services)
    assert n.office_store.staff("bohdan") is None


@pytest.mark.parametrize("broken", ["config", "staff", "json"])
def test_a_broken_push_is_refused_and_changes_nothing(net: Net, broken: str) -> None:
    n = net
    add_region_staff(n)
    n.push([n.a])
    n.wait_applied(1)
    before_config = n.app_state.service.config
    before_versions = versions.versions(n.office_store, n.a)
    config = downward.office_config(n.region(), n.a, None)
    staff = downward.staff_for(n.region_store, n.a)
    if broken == "config":
        config["counters"][0]["services"] = ["no-such-service"]  # a counter serving a service that is not there
        config["display"]["ticker"] = {"uk": "never shown"}
    elif broken == "staff":
        staff.append({"username": "mallory", "display_name": "M", "role": "admin", "password_hash": "plain-text-pw"})
    payload = (b'{"v": 1, "office": "' + n.a.encode() + b'", "version": 2, "config": {' if broken == "json" else
               RegionConfigPush(office=n.a, version=2, config=config, staff=staff, at=dt.datetime.now(dt.UTC)).to_bytes())
    w = Watcher("127.0.0.1", n.office_broker.port)
    try:
        w.publish(contract.topic("region_config", n.a), payload)
        wait_until(lambda: any(r.outcome.startswith("refused") for r in n.applier.results), what="the push refused")
    finally:
        w.close()
    refused = next(r for r in n.applier.results if r.outcome.startswith("refused"))
    assert refused.outcome == {"config": "refused_config", "staff": "refused_staff", "json": "refused_payload"}[broken]
    assert n.applied_version() == 1
    assert n.app_state.service.config == before_config
    assert versions.versions(n.office_store, n.a) == before_versions
    assert n.office_store.staff("mallory") is None
    assert n.applier.metrics.outcomes[refused.outcome] == 1


def test_an_account_the_region_drops_is_locked_and_an_office_account_is_left_alone(net: Net) -> None:
    n = net
    add_region_staff(n)
    auth.create_account(n.office_store, username="local-guard", role="operator", password="local-secret-1")
    n.push([n.a])
    n.wait_applied(1)
    assert sign_in(n, "iryna", IRYNA_PASSWORD) == 200
    with n.region_store.transaction() as tx:
        from cherga.server.db import schema

        tx.conn.execute(schema.staff.delete().where(schema.staff.c.username == "iryna"))
    assert n.push([n.a])[0].push.version == 2
    n.wait_applied(2)
    assert sign_in(n, "iryna", IRYNA_PASSWORD) == 401
    assert sign_in(n, "local-guard", "local-secret-1") == 200
    assert sign_in(n, "halyna", "halyna-secret-1") == 200


def test_the_same_content_pushed_again_keeps_its_version(tmp_path: Path, net: Net) -> None:
    n = net
    first = n.push()
    again = n.push()
    assert [p.push.version for p in first] == [1, 1] and all(p.changed for p in first)
    assert [p.push.version for p in again] == [1, 1] and not any(p.changed for p in again)
    n.write_office(n.b, ticker="changed")
    third = {p.push.office: p.push.version for p in n.push()}
    assert third == {n.a: 1, n.b: 2}


def test_a_change_that_would_strand_a_visitor_is_held_until_the_tickets_are_served(net: Net) -> None:
    n = net
    n.applier.retry_s = 3600  # the test retries by hand
    service = n.app_state.service
    ticket = service.issue_ticket(service="driver", language="uk", source="test", command_id=uuid.uuid4().hex)
    data = office_dict(n.a)
    data["services"] = [s for s in data["services"] if s["id"] != "driver"]
    for c in data["counters"]:
        c["services"] = [x for x in c["services"] if (x["id"] if isinstance(x, dict) else x) != "driver"]
    (n.tmp / "region" / f"{n.a}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    n.push([n.a])
    wait_until(lambda: any(r.outcome == "held" for r in n.applier.results), what="the push held")
    assert any(s.id == "driver" for s in service.config.services) and n.applied_version() is None
    service.cancel_ticket(ticket_id=ticket.ticket_id, source="test", command_id=uuid.uuid4().hex)
    n.applier.retry_now()
    n.wait_applied(1)
    assert not any(s.id == "driver" for s in service.config.services)


def test_the_catalogue_wins_over_the_office_entry_but_not_over_its_own_hours(tmp_path: Path) -> None:
    data = office_dict("x1", pension=True)
    data["services"][-1]["hours"] = {"days": {"mon": [{"start": "09:00", "end": "12:00"}]}}
    config = SiteConfig.model_validate(data)
    catalogue = downward.Catalogue.model_validate({"services": [{**PENSION, "daily_cap": 5, "mean_service_min": 25}]})
    merged = downward.merge_catalogue(config, catalogue)
    pension = merged.service("pension")
    assert (pension.prefix, pension.names.en, pension.mean_service_min) == ("P", "Pensions", 25)
    assert pension.daily_cap == 40 and pension.hours is not None and "mon" in pension.hours.days
    assert merged.service("passport") == config.service("passport")  # not in the catalogue: the office's own
    clash = downward.Catalogue.model_validate({"services": [{**PENSION, "prefix": "A"}]})  # passport's prefix
    with pytest.raises(downward.DownwardError, match="prefix"):
        downward.merge_catalogue(config, clash)


def test_cherga_region_push_reaches_a_server_started_from_the_region_and_its_metrics_say_so(
        net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cherga.cli import app as cli

    n = net
    n.applier.stop()  # the office server below runs its own, as `cherga server --from-region` does
    add_region_staff(n)
    n.write_office(n.a, pension=True)
    start, stop = apply.hooks("127.0.0.1", n.office_broker.port)
    app = create_app(n.app_state.service.config, "", store=n.office_store, sweep_interval=None, clock=Clock(),
                     on_start=[start], on_stop=[stop])
    with TestClient(app) as client:
        monkeypatch.setenv("CHERGA_MQTT_USER", REGION_USER)
        monkeypatch.setenv("CHERGA_MQTT_PASSWORD", REGION_PW)
        result = CliRunner().invoke(cli, ["region", "push", str(n.region_path), "--office", n.a,
                                          "--mqtt", f"127.0.0.1:{n.region_broker.port}",
                                          "--db", sqlite_url(n.tmp / "region.db")])
        assert result.exit_code == 0, result.output
        assert f"{n.a}: version 1, 2 staff accounts" in result.output
        n.wait_applied(1)
        assert any(s.id == "pension" for s in app.state.service.config.services)
        assert client.post("/api/v1/auth/login", json={"username": "iryna", "password": IRYNA_PASSWORD}).status_code == 200
        metrics = client.get("/metrics").text
    assert f'cherga_region_config_version{{office="{n.a}"}} 1.0' in metrics
    assert f'cherga_region_config_total{{office="{n.a}",outcome="applied"}} 1.0' in metrics


def test_the_administration_pages_say_the_region_manages_the_office_in_every_language(net: Net) -> None:
    n = net
    add_region_staff(n)
    auth.create_account(n.office_store, username="local-admin", role="admin", password="local-admin-1")
    r = n.client.post("/admin/signin", data={"username": "local-admin", "password": "local-admin-1", "lang": "en"},
                      headers={"origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303
    assert "The region manages" not in n.client.get("/admin/versions?lang=en").text  # not yet
    n.write_office(n.a, ticker="from the region")
    n.push([n.a])
    n.wait_applied(1)
    # The region's administrator signs in to the office's pages with her region password and reads who decides.
    n.client.cookies.clear()
    r = n.client.post("/admin/signin", data={"username": "halyna", "password": "halyna-secret-1", "lang": "en"},
                      headers={"origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303
    expected = {"en": "The region manages this office's configuration and staff (version 1).",
                "uk": "задає регіон (версія 1)", "ru": "задаёт регион (версия 1)",
                "kk": "аймақ белгілейді (нұсқа 1)", "ky": "аймак белгилейт (версия 1)"}
    for lang, words in expected.items():
        page = n.client.get(f"/admin/versions?lang={lang}").text
        assert words in html.unescape(page), lang
        assert "region version 1" in page  # the version the push saved, by the region


@pytest.mark.parametrize("region_rig", [True], indirect=True)  # TLS on the regional broker, as provisioned
def test_a_provisioned_office_takes_the_push_beside_its_bridge_and_uplink(
        region_rig: RegionRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of `cherga region provision` and `cherga provision server`: the office broker makes each
    user name its client id, so the bridge (server user), the uplink and the applier (config user) must
    each be their own user; all three run at once, the region pushes over TLS, and its log still goes up."""
    from typer.testing import CliRunner

    from cherga.cli import app as cli
    from cherga.server.region.link import intake_hooks, uplink_hooks
    from tests.region.test_upload import region_events

    rig = region_rig
    north = rig.offices["kr-north"]
    files = rig.files.office_dirs["kr-north"]
    auth.create_account(rig.region_store, username="iryna", role="operator", password=IRYNA_PASSWORD,
                        display_name="Ірина Бондар", offices=("kr-north",))
    monkeypatch.setenv("CHERGA_REGION_CREDENTIALS", str(rig.files.broker_dir / "region-credentials.yaml"))
    in_start, in_stop = intake_hooks(rig.region, f"127.0.0.1:{rig.region_broker.port}")
    region_app = create_app(rig.region.served_here, "", store=rig.region_store, sweep_interval=None,
                            on_start=[in_start], on_stop=[in_stop])
    # kr-north's server: cherga server --mqtt ... --from-region --region-config-credentials ... --uplink ...
    start, stop = apply.hooks("127.0.0.1", north.broker.port,
                              apply.read_credentials(["kr-north"], files / "config-credentials.yaml"))
    up_start, up_stop = uplink_hooks([north.service.config], f"127.0.0.1:{north.broker.port}",
                                     files / "uplink-credentials.yaml")
    office_app = create_app(north.service.config, "", store=north.store, sweep_interval=None,
                            on_start=[start, up_start], on_stop=[stop, up_stop])
    with TestClient(region_app), TestClient(office_app) as office:
        bridge = start_bridge(office_app.state.service, "127.0.0.1", north.broker.port, config=north.service.config,
                              username="kr-north.server", password="pw-server")
        office_app.state.bridge = bridge
        office_app.state.bridges["kr-north"] = bridge
        try:
            data = yaml.safe_load(rig.region.config_paths["kr-north"].read_text(encoding="utf-8"))
            data.setdefault("display", {})["ticker"] = {"uk": "Новини регіону", "en": "News from the region"}
            rig.region.config_paths["kr-north"].write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            result = CliRunner().invoke(cli, ["region", "push", str(rig.region.path), "--office", "kr-north",
                                              "--mqtt", f"127.0.0.1:{rig.region_broker.port}",
                                              "--db", rig.region_store.url])
            assert result.exit_code == 0, result.output
            wait_until(lambda: (apply.applied(north.store, "kr-north") or None) and True,
                       what=lambda: f"the push applied at kr-north ({office_app.state.region_appliers['kr-north'].results})")
            assert office_app.state.service.config.display.ticker.uk == "Новини регіону"
            assert office.post("/api/v1/auth/login",
                               json={"username": "iryna", "password": IRYNA_PASSWORD}).status_code == 200
            # The bridge still serves the hall (its hall state, with the region's ticker once tickets move, goes
            # up the link to the region), and the uplink still sends the office's log up to the region.
            north.day(3)
            link = region_app.state.region_link
            wait_until(lambda: (s := link.hall_states().get("kr-north")) is not None and s.ticker.get("uk") == "Новини регіону",
                       what="kr-north's hall state with the region's ticker, at the region")
            wait_until(lambda: region_events(rig, "kr-north") == north.own_events() or None, what="kr-north's log")
        finally:
            bridge.stop()
    log = (north.broker.workdir / "mosquitto.log").read_text(errors="replace")
    assert "already connected" not in log  # no client knocked another off its client id
