"""Payloads the contract does not speak are refused with a reason the sender is told (on its own
topic's node, never a node the payload names), and every refusal is counted in /metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import sqlite_url
from tests.bridge.conftest import Watcher, command, office_clock, sign_in
from tests.support.mosquitto import Broker


def _issue_json(**overrides: object) -> dict[str, object]:
    data = json.loads(command(IssueTicket, "k1", service="passport").to_bytes())
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


MALFORMED = {
    "no_v": (json.dumps(_issue_json(v=None)).encode(), "unsupported_version"),
    "v_true": (json.dumps(_issue_json(v=True)).encode(), "unsupported_version"),
    "v_float": (json.dumps(_issue_json(v=1.0)).encode(), "unsupported_version"),
    "utf16": (json.dumps(_issue_json()).encode("utf-16"), "bad_encoding"),
    "utf16le_no_bom": (json.dumps(_issue_json()).encode("utf-16-le"), "bad_json"),
    "bom": (b"\xef\xbb\xbf" + json.dumps(_issue_json()).encode(), "bad_encoding"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_payload_outside_the_contract_is_refused_and_issues_nothing(
        case: str, site: SiteConfig, service: OfficeService) -> None:
    payload, reason = MALFORMED[case]
    bridge = Bridge(service, "127.0.0.1", 1)  # not started: handle() is what paho would call
    out = bridge.handle(contract.topic("kiosk_issue", site.office.id, node="k1"), payload)
    assert (out.status, out.reason) == ("refused", reason), out
    assert out.message
    assert service.store.tickets(site.office.id) == []
    # The same ticket, well formed, is issued: the refusal was about the bytes, not the request.
    assert bridge.handle(contract.topic("kiosk_issue", site.office.id, node="k1"),
                         json.dumps(_issue_json()).encode()).status == "applied"


@pytest.mark.mosquitto
def test_refusals_on_a_counters_topic_reach_that_counters_pad_not_the_node_a_payload_names(
        mosquitto: Broker, site: SiteConfig, service: OfficeService, bridges: list[Bridge],
        watchers: list[Watcher]) -> None:
    office = site.office.id
    sign_in(service, "c1")
    service.issue_ticket(command_id="seed", source="test", service="passport")
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))
    own = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_error", office, node="pad-c1"))
    forged = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_error", office, node="pad-c2"))
    watchers += [own, forged]
    topic = contract.topic("counter_command", office, counter="c1")

    # pad-c1's topic, a payload claiming to be pad-c2: pad-c1 (the only one the ACL lets publish here) is told.
    lie = command(CounterCommand, "pad-c2", action="next")
    own.publish(topic, lie.to_bytes())
    notice = own.wait_for(lambda t, d: d.get("id") == lie.id)
    assert notice["reason"] == "not_your_counter"
    # An unreadable payload on the counter's topic is answered too (it has no id to answer by).
    own.publish(topic, "{ not json".encode("utf-16"))
    assert own.wait_for(lambda t, d: d.get("reason") == "bad_encoding")["topic"] == topic
    assert forged.seen == [], "a refusal went to the node the payload named"
    assert service.counter_state("c1").status == "idle", "nothing was called"


def test_refusals_are_counted_by_reason_in_metrics(site: SiteConfig, service: OfficeService, tmp_path: Path) -> None:
    app = create_app(site, sqlite_url(tmp_path / "app.db"), clock=office_clock(), sweep_interval=None)
    with TestClient(app) as client:
        bridge = Bridge(app.state.service, "127.0.0.1", 1)
        app.state.bridge = bridge
        topic = contract.topic("kiosk_issue", site.office.id, node="k1")
        for payload in (MALFORMED["bom"][0], MALFORMED["utf16"][0], MALFORMED["no_v"][0]):
            bridge.handle(topic, payload)
        text = client.get("/metrics").text
    office = site.office.id
    assert f'cherga_mqtt_refused_total{{office="{office}",reason="bad_encoding"}} 2.0' in text
    assert f'cherga_mqtt_refused_total{{office="{office}",reason="unsupported_version"}} 1.0' in text
