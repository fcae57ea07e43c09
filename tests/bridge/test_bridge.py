"""The bridge on a real Mosquitto with the real OfficeService on SQLite."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket, OfflineTicket
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import Watcher, command, make_service, sign_in, site_config
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto


def _root(site: SiteConfig) -> str:
    return f"cherga/v1/{site.office.id}"


def test_a_starting_bridge_publishes_every_retained_topic(mosquitto: Broker, site: SiteConfig, service: OfficeService,
                                                          bridges: list[Bridge], watchers: list[Watcher]) -> None:
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    first = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/#")
    watchers.append(first)
    first.wait_for(lambda t, d: t.endswith("/node/pad-c2/config"))  # the last thing the bridge publishes
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/#")  # a display arriving afterwards
    watchers.append(w)
    retained = {t for t, p, r in w.seen if r}
    for c in site.counters:
        assert contract.topic("counter_state", site.office.id, counter=c.id) in retained
    for n in site.nodes or []:
        assert contract.topic("node_config", site.office.id, node=n.id) in retained
    status = w.payloads(contract.topic("server_status", site.office.id))[-1]
    assert status["state"] == "online"
    pad_config = w.payloads(contract.topic("node_config", site.office.id, node="pad-c1"))[-1]
    assert pad_config["counter"]["number"] == "1" and "passport" in pad_config["counter"]["services"]
    k1 = w.payloads(contract.topic("node_config", site.office.id, node="k1"))[-1]
    k2 = w.payloads(contract.topic("node_config", site.office.id, node="k2"))[-1]
    assert k1["offline_range"][1] < k2["offline_range"][0], "two kiosks must never share offline numbers"


def test_a_kiosk_request_gets_its_ticket_and_a_pad_next_calls_it_on_the_hall(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    sign_in(service, "c1")
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    office = site.office.id
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/#")
    watchers.append(w)

    issue = command(IssueTicket, "k1", service="passport", language="ky")
    w.publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
    reply = w.wait_for(lambda t, d: t.endswith("/kiosk/k1/response") and d["id"] == issue.id)
    assert reply["status"] == "ok" and reply["ticket"]["label"] == "A-001" and reply["ticket"]["language"] == "ky"

    nxt = command(CounterCommand, "pad-c1", action="next")
    w.publish(contract.topic("counter_command", office, counter="c1"), nxt.to_bytes())
    call = w.wait_for(lambda t, d: t.endswith("/hall/call"))
    assert call["label"] == "A-001" and call["counter_number"] == "1"
    answer = w.wait_for(lambda t, d: t.endswith("/counter/c1/response") and d["id"] == nxt.id)
    assert answer["status"] == "ok" and answer["counter"]["status"] == "calling"
    state = w.wait_for(lambda t, d: t.endswith("/counter/c1/state") and d["status"] == "calling")
    assert state["ticket"]["label"] == "A-001"


def test_a_service_refusal_reaches_the_kiosk_as_an_error_key(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/kiosk/k1/response")
    watchers.append(w)
    issue = command(IssueTicket, "k1", service="notary")  # appointment only
    w.publish(contract.topic("kiosk_issue", site.office.id, node="k1"), issue.to_bytes())
    reply = w.wait_for(lambda t, d: d["id"] == issue.id)
    assert reply["status"] == "error" and reply["error"]["key"] == "appointment_only"
    assert bridges[0].metrics.service_errors["appointment_only"] == 1


@pytest.mark.parametrize(("sender", "counter", "reason"), [
    ("k1", "c1", "wrong_role"),           # a kiosk pressing a counter's button
    ("pad-c2", "c1", "not_your_counter"),  # a pad pressing another counter's button
    ("ghost", "c1", "unknown_node"),       # a node the office does not have
])
def test_a_counter_command_from_the_wrong_node_is_refused_and_the_node_told_why(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge], watchers: list[Watcher],
        sender: str, counter: str, reason: str) -> None:
    sign_in(service, "c1")
    service.issue_ticket(command_id="seed", source="test", service="passport")
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    bridges.append(bridge)
    # The broker lets only the counter's own pad publish on its topic: that pad is told, never the named node.
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/node/pad-{counter}/error")
    watchers.append(w)
    nxt = command(CounterCommand, sender, action="next")
    w.publish(contract.topic("counter_command", site.office.id, counter=counter), nxt.to_bytes())
    notice = w.wait_for(lambda t, d: d["id"] == nxt.id)
    assert notice["reason"] == reason
    assert bridge.metrics.refused[reason] == 1
    assert service.counter_state("c1").status == "idle", "the refused next must not call anybody"


def test_the_same_command_twice_and_again_after_a_bridge_restart_is_applied_once(
        mosquitto: Broker, site: SiteConfig, tmp_path: Path, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    db = tmp_path / "office.db"
    service = make_service(site, db)
    office = site.office.id
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/kiosk/k1/response")
    watchers.append(w)
    issue = command(OfflineTicket, "k1", service="passport", number=901,
                    issued_at=service.now())
    raw = issue.to_bytes()
    for _ in range(2):
        w.publish(contract.topic("kiosk_offline", office, node="k1"), raw)
    first, second = w.wait_count(lambda t, d: d["id"] == issue.id, 2)
    assert first == second, "a repeated command gets the first answer again"
    bridge.stop()

    # The server restarts: a new service on the same database, a new bridge.
    service2 = make_service(site, db)
    bridges.append(start_bridge(service2, mosquitto.host, mosquitto.port))
    w.publish(contract.topic("kiosk_offline", office, node="k1"), raw)
    third = w.wait_count(lambda t, d: d["id"] == issue.id, 3)[-1]
    assert second["ticket"]["ticket_id"] == third["ticket"]["ticket_id"]
    tickets = service2.store.tickets(office)
    assert [t.ticket.number for t in tickets] == [901], "one ticket, however often the command came"


def test_a_change_made_outside_mqtt_reaches_the_displays(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    w = Watcher(mosquitto.host, mosquitto.port, f"{_root(site)}/hall/call", f"{_root(site)}/counter/c2/state")
    watchers.append(w)
    sign_in(service, "c2")  # e.g. the operator panel over REST
    service.issue_ticket(command_id="rest-1", source="rest", service="passport")
    service.counter_action(command_id="rest-2", counter="c2", action=contract.CounterAction.NEXT, source="panel")
    assert w.wait_for(lambda t, d: t.endswith("/hall/call"))["counter"] == "c2"
    assert w.wait_for(lambda t, d: t.endswith("/state") and d["status"] == "calling")["counter"] == "c2"


def test_a_clean_bridge_stop_marks_the_server_offline(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, watchers: list[Watcher]) -> None:
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    w = Watcher(mosquitto.host, mosquitto.port, contract.topic("server_status", site.office.id))
    watchers.append(w)
    w.wait_for(lambda t, d: d["state"] == "online")
    bridge.stop()
    assert w.wait_for(lambda t, d: d["state"] == "offline")


def test_node_status_and_telemetry_are_recorded_for_the_device_monitor(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    bridges.append(bridge)
    w = Watcher(mosquitto.host, mosquitto.port)
    watchers.append(w)
    office = site.office.id
    w.publish(contract.topic("node_status", office, node="d1"),
              json.dumps({"v": 1, "node": "d1", "role": "display", "state": "online", "version": "9"}))
    w.publish(contract.topic("node_alert", office, node="k1"),
              json.dumps({"v": 1, "node": "k1", "ts": "2026-03-04T08:00:00Z", "kind": "paper_out"}))
    w.publish(contract.topic("node_status", office, node="d1"),  # a display claiming to be a kiosk
              json.dumps({"v": 1, "node": "d1", "role": "kiosk", "state": "online"}))
    wait_until(lambda: bridge.metrics.received >= 3, what="the three messages at the bridge")
    assert bridge.node_states["d1"].role == "display"
    assert ("k1", "paper_out") in bridge.node_alerts
    assert bridge.metrics.refused["wrong_role"] == 1


def test_a_long_node_id_and_message_id_still_fit_the_command_store_and_apply_once(
        mosquitto: Broker, tmp_path: Path, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    long_node = "k" * 40
    site = site_config(f"l{uuid.uuid4().hex[:8]}", nodes=[{"id": long_node, "role": "kiosk"}])
    service = make_service(site, tmp_path / "office.db")
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    w = Watcher(mosquitto.host, mosquitto.port, contract.topic("kiosk_response", site.office.id, node=long_node))
    watchers.append(w)
    issue = IssueTicket(id="x" * 64, node=long_node, ts=service.now(), service="passport")
    for _ in range(2):
        w.publish(contract.topic("kiosk_issue", site.office.id, node=long_node), issue.to_bytes())
    first, second = w.wait_count(lambda t, d: d["id"] == issue.id, 2)
    assert first["status"] == "ok" and first == second
    assert len(service.store.tickets(site.office.id)) == 1
