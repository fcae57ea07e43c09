"""A server that runs two offices runs one MQTT bridge per office on one broker (issue 21): each has
its own client id and hears only its own office's subtree, so a kiosk of one office never issues a
ticket at the other, and each hall display gets only its own office's state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import IssueTicket
from cherga.server.app import _start_bridge, create_app
from cherga.server.store import sqlite_url
from tests.bridge.conftest import Watcher, command, office_clock, site_config
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.mosquitto


def _answer_to(command_id: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda topic, data: data.get("id") == command_id


def test_each_office_of_one_server_has_its_own_bridge_and_hears_only_its_own_nodes(
        mosquitto: Broker, tmp_path: Path) -> None:
    north, south = site_config("mo-north"), site_config("mo-south")
    app = create_app([north, south], sqlite_url(tmp_path / "office.db"), clock=office_clock(), sweep_interval=None)
    start, stop = _start_bridge(f"{mosquitto.host}:{mosquitto.port}", [north, south], wait=10.0)
    kiosks = {o: Watcher(mosquitto.host, mosquitto.port, contract.topic("kiosk_response", o, node="k1"),
                         contract.topic("hall_state", o)) for o in ("mo-north", "mo-south")}
    start(app)
    try:
        bridges = app.state.bridges
        assert set(bridges) == {"mo-north", "mo-south"}
        assert app.state.bridge is bridges["mo-north"]
        assert all(b.wait_connected(10) for b in bridges.values())
        assert len({b.client._client_id for b in bridges.values()}) == 2  # neither knocks the other off
        labels: dict[str, list[str]] = {}
        for office in ("mo-north", "mo-south", "mo-north"):
            issue = command(IssueTicket, "k1", service="passport")
            kiosks[office].publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
            answer = kiosks[office].wait_for(_answer_to(issue.id))
            assert answer["status"] == "ok", answer
            labels.setdefault(office, []).append(answer["ticket"]["label"])
        assert labels == {"mo-north": ["A-001", "A-002"], "mo-south": ["A-001"]}
        store = app.state.store
        assert len(store.tickets("mo-north")) == 2 and len(store.tickets("mo-south")) == 1
        # Each office's kiosk heard only its own answers: the other bridge never replied on its topic.
        assert len(kiosks["mo-south"].payloads(contract.topic("kiosk_response", "mo-south", node="k1"))) == 1
        south_hall = kiosks["mo-south"].wait_for(lambda t, d: t.endswith("/hall/state") and "office" in d)
        assert south_hall["office"] == "mo-south"
    finally:
        stop(app)
        for w in kiosks.values():
            w.close()
    assert app.state.bridges == {} and app.state.bridge is None
