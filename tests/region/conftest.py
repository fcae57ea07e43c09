"""Fixtures for the region tests: a region on loopback, built from `cherga region provision`'s files.

A regional Mosquitto (its generated passwd, ACL and config), one office Mosquitto per office with its
own server (the office's passwd and ACL plus the generated uplink user and the bridge stanza), each
office's SQLite store with a real OfficeService, and the region's PostgreSQL database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.client import TlsSettings
from cherga.provisioning.region import RegionFiles, uploading_offices, write_region_files
from cherga.server import auth
from cherga.server.region.regionfile import Region, load_region
from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url

# The bridge tests' `bridges` and `watchers` (each stops what its test started), for the region's bridge tests.
from tests.bridge.conftest import bridges, watchers  # noqa: F401
from tests.support.mosquitto import Broker, free_port
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
PIN = "4821"
_db = itertools.count()


def office_clock(start: dt.datetime = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)) -> Callable[[], dt.datetime]:
    """A Wednesday 08:00 in Kyiv (the example offices open at 08:00), advancing with real time."""
    t0 = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - t0)


def start_broker(workdir: Path, conf_text: str, port: int) -> Broker:
    conf = workdir / "mosquitto.conf"
    conf.write_text(conf_text + ("user root\n" if os.geteuid() == 0 else ""))
    broker = Broker(workdir, "127.0.0.1", port, config_file=conf)
    broker.start()
    return broker


@dataclasses.dataclass
class Office:
    id: str
    service: OfficeService
    store: Store
    broker: Broker
    uplink_user: str
    uplink_password: str
    counters: list[str]

    def day(self, tickets: int) -> None:
        """A piece of an office day through the service layer: tickets issued and served (about 4 events each)."""
        services = [s.id for s in self.service.config.services]
        for i in range(tickets):
            self.service.issue_ticket(command_id=uuid.uuid4().hex, source="test", service=services[i % len(services)])
            if i % 2:
                counter = self.counters[i % len(self.counters)]
                for action in (contract.CounterAction.NEXT, contract.CounterAction.FINISH):
                    self.service.counter_action(command_id=uuid.uuid4().hex, counter=counter, action=action,
                                                source="test", operator="olena", authenticated=True)

    def own_events(self) -> list[tuple[int, str, str | None]]:
        return [(e["seq"], e["kind"], e["ticket_id"]) for e in self.store.events(self.id)]


@dataclasses.dataclass
class RegionRig:
    region: Region
    files: RegionFiles
    region_broker: Broker
    region_user: str
    region_password: str
    offices: dict[str, Office]
    region_store: Store
    region_tls: TlsSettings | None = None  # the CA the region server checks the regional broker with


def _office_broker(region_files: RegionFiles, office: str, workdir: Path, region: Region) -> tuple[Broker, str, str]:
    """The office broker as `cherga provision server` makes it, plus the generated uplink user and bridge."""
    workdir.mkdir(parents=True)
    odir = region_files.office_dirs[office]
    server_user = broker_config.username_for(office, "server")
    creds = {server_user: "pw-server"}
    (workdir / "passwd").write_text(broker_config.render_password_file(creds) + (odir / "uplink.passwd").read_text())
    nodes = [broker_config.Node(n.id, n.role, n.counter) for n in region.configs[office].nodes or []]
    (workdir / "acl").write_text(broker_config.render_acl(office, nodes, server_user) + (odir / "uplink.acl").read_text())
    port = free_port()
    conf = broker_config.render_mosquitto_conf(
        password_file=str(workdir / "passwd"), acl_file=str(workdir / "acl"), port=port, bind="127.0.0.1",
        persistence_location=f"{workdir}/", log_dest="stderr") + "\n" + (odir / "bridge.conf").read_text()
    uplink = yaml.safe_load((odir / "uplink-credentials.yaml").read_text())
    return start_broker(workdir, conf, port), uplink["username"], uplink["password"]


@pytest.fixture
def region_rig(request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer) -> Iterator[RegionRig]:
    """The example region on loopback; parametrize indirectly with True for TLS on the regional broker."""
    tls = bool(getattr(request, "param", False))
    src = tmp_path / "region-src"
    shutil.copytree(REPO / "examples" / "region", src)
    region_port = free_port()
    data = yaml.safe_load((src / "region.yaml").read_text(encoding="utf-8"))
    data["broker"] = {"host": "127.0.0.1", "port": region_port, "tls": tls}
    (src / "region.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    region = load_region(src / "region.yaml")
    rdir = tmp_path / "region-broker-host"
    rdir.mkdir()
    files = write_region_files(region, tmp_path / "out", conf_dir=str(tmp_path / "out" / "region-broker"),
                               office_conf_dir=str(tmp_path), data_dir=f"{rdir}/", bind="127.0.0.1")
    if tls:  # where each office broker's bridge.conf looks for the region CA (office_conf_dir)
        shutil.copy(files.broker_dir / "region-ca.crt", tmp_path / "region-ca.crt")
    conf = (files.broker_dir / "mosquitto.conf").read_text().replace("log_dest syslog", "log_dest stderr")
    region_broker = start_broker(rdir, conf, region_port)
    rcreds = yaml.safe_load((files.broker_dir / "region-credentials.yaml").read_text())
    region_tls = TlsSettings(str(files.broker_dir / "region-ca.crt")) if tls else None
    region_store = Store(postgres.create_database(f"region_{uuid.uuid4().hex[:8]}_{next(_db)}"))
    offices: dict[str, Office] = {}
    try:
        for office in uploading_offices(region):
            broker, user, password = _office_broker(files, office, tmp_path / f"broker-{office}", region)
            store = Store(sqlite_url(tmp_path / f"{office}.db"))
            auth.create_account(store, username="olena", role="operator", pin=PIN, display_name="Olena K.")
            service = OfficeService(region.configs[office], store, clock=office_clock())
            counters = [c.id for c in region.configs[office].counters]
            for c in counters:
                service.counter_action(command_id=uuid.uuid4().hex, counter=c, action=contract.CounterAction.SIGN_IN,
                                       source="test", operator="olena", authenticated=True)
            offices[office] = Office(office, service, store, broker, user, password, counters)
        yield RegionRig(region, files, region_broker, rcreds["username"], rcreds["password"], offices, region_store,
                        region_tls)
    finally:
        for o in offices.values():
            o.broker.stop()
            o.store.close()
        region_broker.stop()
        region_store.close()
