"""The office broker for `make run`: the embedded amqtt broker carries the whole contract, and the
local Mosquitto starter works where Mosquitto is installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import start_bridge
from cherga.broker_bridge.contract import Command, CounterCommand, IssueTicket, Reply
from cherga.broker_bridge.embedded import (
    EmbeddedBroker,
    LocalMosquitto,
    mosquitto_binary,
    start_office_broker,
)
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession, Offline, RequestTimeout
from tests.bridge.conftest import Watcher, make_service, sign_in, site_config


def _ask(session: NodeSession, route: str, cmd: Command) -> Reply:
    # amqtt 0.12 sometimes drops a client that connects while another does (a dict changed size during
    # iteration in its session handler); the node reconnects, and resending the same command is safe.
    for _ in range(3):
        try:
            return session.request(route, cmd, timeout=3)
        except (Offline, RequestTimeout):
            session.wait_connected(5)
    raise AssertionError(f"{route} not answered")


def test_the_embedded_broker_carries_requests_retained_state_and_last_wills(tmp_path: Path) -> None:
    site = site_config("emb")
    service = make_service(site, tmp_path / "office.db")
    sign_in(service, "c1")
    with EmbeddedBroker(port=0) as broker:
        bridge = start_bridge(service, broker.host, broker.port)
        cfg = NodeConfig.model_validate({"node": "k1", "role": "kiosk", "office": "emb",
                                         "broker": {"port": broker.port, "keepalive_s": 5}})
        kiosk = NodeSession(cfg, outbox=Outbox(":memory:"))
        pad = NodeSession(NodeConfig.model_validate({"node": "pad-c1", "role": "pad", "office": "emb", "counter": "c1",
                                                     "broker": {"port": broker.port}}), outbox=Outbox(":memory:"))
        kiosk.start()
        pad.start()
        try:
            assert kiosk.wait_connected(5) and pad.wait_connected(5)
            assert _ask(kiosk, "kiosk_issue", kiosk.command(IssueTicket, service="passport")).status == "ok"
            assert _ask(pad, "counter_command", pad.command(CounterCommand, action="next")).ticket is not None
            # A display arriving late draws from retained state alone.
            late = Watcher(broker.host, broker.port, contract.topic("counter_state", "emb", counter="c1"),
                           contract.topic("node_status", "emb", node="k1"))
            assert late.wait_for(lambda t, d: t.endswith("/state"))["status"] == "calling"
            assert late.wait_for(lambda t, d: t.endswith("/status"))["state"] == "online"
            sock = kiosk.client.socket()
            assert sock is not None
            sock.close()  # the kiosk vanishes without a goodbye
            assert late.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "offline", timeout=15)
            late.close()
        finally:
            kiosk.stop()
            pad.stop()
            bridge.stop()


def test_the_embedded_broker_stops_and_frees_its_port() -> None:
    broker = EmbeddedBroker(port=0).start()
    port = broker.port
    broker.stop()
    again = EmbeddedBroker(port=port).start()
    again.stop()


@pytest.mark.mosquitto
def test_a_local_mosquitto_is_started_with_nodelay_and_serves_clients(tmp_path: Path) -> None:
    if mosquitto_binary() is None:
        pytest.skip("Mosquitto not installed")
    extra = "user root" if os.geteuid() == 0 else ""
    with LocalMosquitto(tmp_path / "m", port=0, extra=extra) as broker:
        assert "set_tcp_nodelay true" in broker.config_path.read_text()
        w = Watcher(broker.host, broker.port, "x/#")
        w.publish("x/1", json.dumps({"ok": True}))
        assert w.wait_for(lambda t, d: d == {"ok": True})
        w.close()


def test_the_office_broker_prefers_mosquitto_and_falls_back_to_embedded(tmp_path: Path) -> None:
    broker = start_office_broker(tmp_path / "b", port=0, prefer="embedded")
    try:
        assert broker.kind == "embedded"
    finally:
        broker.stop()
