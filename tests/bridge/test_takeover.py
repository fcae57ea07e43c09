"""A node's credentials cannot take the bridge's MQTT session (the generated broker config ties each
client id to its user), so no command is lost to a client-id takeover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import IssueTicket
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import (
    Watcher,
    command,
    make_service,
    site_config,
    start_provisioned_broker,
    write_broker_credentials,
)
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
PASSWORDS = {"k1": "kiosk-secret-1", "k2": "kiosk-secret-2", "server": "server-secret"}


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[tuple[Broker, SiteConfig, OfficeService, Bridge]]:
    """The broker as `cherga provision` configures it (generated mosquitto.conf, passwd and ACL)."""
    site = site_config("takeover")
    workdir = tmp_path / "broker"
    server_user = write_broker_credentials(site, workdir, PASSWORDS)
    broker = start_provisioned_broker(workdir)
    try:
        service = make_service(site, tmp_path / "office.db")
        bridge = start_bridge(service, broker.host, broker.port, username=server_user, password=PASSWORDS["server"])
        assert bridge.wait_connected(5)
        try:
            yield broker, site, service, bridge
        finally:
            bridge.stop()
    finally:
        broker.stop()


def test_a_kiosks_credentials_with_the_bridges_client_id_neither_kick_the_bridge_nor_steal_a_ticket(
        production_broker: tuple[Broker, SiteConfig, OfficeService, Bridge]) -> None:
    broker, site, service, bridge = production_broker
    office = site.office.id
    lost_broker: list[object] = []
    bridge.client.on_disconnect = lambda *a: lost_broker.append(a)  # type: ignore[assignment,misc]

    # A third-party client: k2's real credentials, but the bridge's client id and a persistent session.
    hijacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cherga-bridge-{office}",
                           clean_session=False)
    hijacker.username_pw_set(broker_config.username_for(office, "k2"), PASSWORDS["k2"])
    stolen: list[bytes] = []
    hijacker.on_message = lambda c, u, m: stolen.append(bytes(m.payload))
    connected: list[object] = []
    hijacker.on_connect = lambda c, u, f, rc, p: connected.append(rc)
    kiosk = Watcher(broker.host, broker.port, contract.topic("kiosk_response", office, node="k1"),
                    username=broker_config.username_for(office, "k1"), password=PASSWORDS["k1"])
    try:
        hijacker.connect(broker.host, broker.port)
        hijacker.loop_start()
        wait_until(lambda: connected, what="the third-party client's CONNACK")
        # The citizen taps the kiosk in that very moment.
        issue = command(IssueTicket, "k1", service="passport")
        kiosk.publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
        answer = kiosk.wait_for(lambda t, d: d.get("id") == issue.id)
        assert answer["status"] == "ok", answer
        assert answer["ticket"]["label"]
        assert lost_broker == [], "the bridge was knocked off the broker by another node's connection"
        assert stolen == []
    finally:
        hijacker.loop_stop()
        hijacker.disconnect()
        kiosk.close()
