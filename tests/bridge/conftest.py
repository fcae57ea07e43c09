"""Fixtures for the bridge tests: the demo office with a node registry, a real OfficeService on
SQLite (with an office clock inside working hours), plain paho clients that watch topics."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.bridge import Bridge
from cherga.server import auth
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store, sqlite_url
from tests.support.mosquitto import Broker, free_port
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import WAIT_S, wait_until

REPO = Path(__file__).resolve().parents[2]
NODES = [
    {"id": "k1", "role": "kiosk"},
    {"id": "k2", "role": "kiosk"},
    {"id": "d1", "role": "display"},
    {"id": "pad-c1", "role": "pad", "counter": "c1"},
    {"id": "pad-c2", "role": "pad", "counter": "c2"},
]
PIN = "4821"
_seq = itertools.count()


def site_config(office: str = "demo", nodes: list[dict[str, Any]] | None = NODES) -> SiteConfig:
    data = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    data["office"]["id"] = office
    if nodes is not None:
        data["nodes"] = nodes
    return SiteConfig.model_validate(data)


def office_clock(start: dt.datetime = dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.UTC)) -> Callable[[], dt.datetime]:
    """A Wednesday 10:00 in Kyiv (inside the demo office's hours), advancing with real time."""
    t0 = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - t0)


def make_service(site: SiteConfig, db: Path, clock: Callable[[], dt.datetime] | None = None) -> OfficeService:
    store = Store(sqlite_url(db))
    if store.staff("olena") is None:
        auth.create_account(store, username="olena", role="operator", pin=PIN, display_name="Olena K.")
    return OfficeService(site, store, clock=clock or office_clock())


def sign_in(service: OfficeService, *counters: str) -> None:
    for c in counters:
        service.counter_action(command_id=f"test-sign-in-{c}-{uuid.uuid4().hex}", counter=c, action=contract.CounterAction.SIGN_IN,
                               source="test", operator="olena", authenticated=True)


def _nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def write_broker_credentials(site: SiteConfig, workdir: Path, passwords: Mapping[str, str]) -> str:
    """The generated password file and ACL for ``site``'s nodes in ``workdir`` (``passwd``, ``acl``), as
    provisioning makes them; ``passwords`` by node id and ``"server"`` (a node not named gets ``pw-<id>``).
    Returns the server's user name."""
    office = site.office.id
    nodes = [broker_config.Node(n.id, n.role, n.counter) for n in site.nodes or []]
    server_user = broker_config.username_for(office, "server")
    creds = {broker_config.username_for(office, n.id): passwords.get(n.id, f"pw-{n.id}") for n in nodes}
    creds[server_user] = passwords["server"]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "passwd").write_text(broker_config.render_password_file(creds))
    (workdir / "acl").write_text(broker_config.render_acl(office, nodes, server_user))
    return server_user


def start_provisioned_broker(workdir: Path) -> Broker:
    """A real Mosquitto on the generated ``mosquitto.conf`` (users tied to client ids), reading the
    ``passwd`` and ``acl`` already written in ``workdir``; started, the caller stops it."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(broker_config.render_mosquitto_conf(
        password_file=str(workdir / "passwd"), acl_file=str(workdir / "acl"), port=port, bind="127.0.0.1",
        persistence_location=f"{workdir}/", log_dest="stderr") + ("user root\n" if os.geteuid() == 0 else ""))
    broker = Broker(workdir, "127.0.0.1", port, config_file=conf)
    broker.start()
    return broker


def answer_to(command_id: str) -> Callable[[str, dict[str, Any]], bool]:
    """A :meth:`Watcher.wait_for` predicate: the reply to ``command_id``."""
    return lambda topic, data: data.get("id") == command_id


class Watcher:
    """A plain paho client that records (topic, payload, retain) of what it is subscribed to."""

    def __init__(self, host: str, port: int, *filters: str, username: str | None = None,
                 password: str | None = None) -> None:
        self.seen: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{next(_seq)}-{uuid.uuid4().hex[:6]}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_socket_open = _nodelay
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if filters:  # and the retained messages in (a broker with an ACL would refuse the private marker)
            subscribe_and_wait(self.client, *filters, retained=not username)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        item = (msg.topic, bytes(msg.payload), bool(msg.retain))
        with self._lock:
            self.seen.append(item)

    def wait_for(self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        """The first message seen (since the watcher started) that matches; waits for it if need be."""
        checked = 0

        def first_match() -> list[dict[str, Any]]:
            nonlocal checked
            with self._lock:
                fresh = self.seen[checked:]
            for topic_name, payload, _ in fresh:
                checked += 1
                if payload:
                    data = json.loads(payload)
                    if predicate(topic_name, data):
                        return [data]
            return []

        return wait_until(first_match, timeout, what="the expected message")[0]

    def wait_count(self, predicate: Callable[[str, dict[str, Any]], bool], count: int,
                   timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Wait until ``count`` seen messages match; returns them all."""

        def enough() -> list[dict[str, Any]] | None:
            with self._lock:
                found = [json.loads(p) for t, p, _ in self.seen if p and predicate(t, json.loads(p))]
            return found if len(found) >= count else None

        return wait_until(enough, timeout, what=f"{count} expected messages")

    def payloads(self, topic_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.seen if t == topic_name and p]

    def publish(self, topic_name: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic_name, payload, qos=qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def command(model: type[contract.Command], node: str, **fields: Any) -> contract.Command:
    return model(id=uuid.uuid4().hex, node=node, ts=dt.datetime.now(dt.UTC), **fields)


@pytest.fixture
def office_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def site(office_id: str) -> SiteConfig:
    return site_config(office_id)


@pytest.fixture
def service(site: SiteConfig, tmp_path: Path) -> OfficeService:
    return make_service(site, tmp_path / "office.db")


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    made: list[Watcher] = []
    yield made
    for w in made:
        w.close()


@pytest.fixture
def bridges() -> Iterator[list[Bridge]]:
    made: list[Bridge] = []
    yield made
    for b in made:
        b.stop()
