"""A server that runs two offices runs one MQTT bridge per office on one broker (issue 21): each has
its own client id and hears only its own office's subtree, so a kiosk of one office never issues a
ticket at the other, and each hall display gets only its own office's state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.contract import IssueTicket
from cherga.server.app import _start_bridge, create_app
from cherga.server.store import sqlite_url
from tests.bridge.conftest import (
    Watcher,
    answer_to,
    command,
    office_clock,
    site_config,
    start_provisioned_broker,
)
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.mosquitto


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
            answer = kiosks[office].wait_for(answer_to(issue.id))
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


def test_each_offices_bridge_uses_that_offices_broker_user_where_the_broker_confines_users_to_an_office(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker as provisioning configures it per office (one server user whose ACL is that office's
    subtree), holding two offices; the server gets each office's credentials from its own file."""
    sites = {"acl-north": site_config("acl-north"), "acl-south": site_config("acl-south")}
    workdir = tmp_path / "broker"
    workdir.mkdir()
    creds_dir = tmp_path / "mqtt-credentials"
    creds_dir.mkdir()
    passwords: dict[str, str] = {}
    acl = ""
    for office, site in sites.items():
        nodes = [broker_config.Node(n.id, n.role, n.counter) for n in site.nodes or []]
        server_user = broker_config.username_for(office, "server")
        passwords[server_user] = f"secret-of-{office}"
        passwords.update({broker_config.username_for(office, n.id): f"pw-{n.id}" for n in nodes})
        acl += broker_config.render_acl(office, nodes, server_user) + "\n"
        (creds_dir / f"{office}.yaml").write_text(f"username: {server_user}\npassword: secret-of-{office}\n")
    (workdir / "passwd").write_text(broker_config.render_password_file(passwords))
    (workdir / "acl").write_text(acl)
    broker = start_provisioned_broker(workdir)
    port = broker.port
    monkeypatch.setenv("CHERGA_MQTT_CREDENTIALS", str(creds_dir))
    monkeypatch.delenv("CHERGA_MQTT_USER", raising=False)
    app = create_app(list(sites.values()), sqlite_url(tmp_path / "office.db"), clock=office_clock(),
                     sweep_interval=None)
    start, stop = _start_bridge(f"127.0.0.1:{port}", list(sites.values()), wait=10.0)
    kiosks = {o: Watcher("127.0.0.1", port, contract.topic("kiosk_response", o, node="k1"),
                         username=broker_config.username_for(o, "k1"), password="pw-k1") for o in sites}
    start(app)
    try:
        assert all(b.wait_connected(10) for b in app.state.bridges.values())
        for office, kiosk in kiosks.items():
            issue = command(IssueTicket, "k1", service="passport")
            kiosk.publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
            answer = kiosk.wait_for(answer_to(issue.id))
            assert answer["status"] == "ok" and answer["ticket"]["label"] == "A-001", answer
    finally:
        stop(app)
        for w in kiosks.values():
            w.close()
        broker.stop()


def test_a_broken_credentials_file_stops_the_server_with_one_line(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acl-north.yaml").write_text("just a string\n")
    monkeypatch.setenv("CHERGA_MQTT_CREDENTIALS", str(tmp_path))
    with pytest.raises(SystemExit, match="acl-north.yaml: not a server-credentials.yaml"):
        _start_bridge("127.0.0.1:1883", [site_config("acl-north")])
