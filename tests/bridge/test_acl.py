"""The broker itself stops a node publishing outside its role (Mosquitto + generated password file and ACL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterCommand
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import (
    Watcher,
    command,
    make_service,
    sign_in,
    site_config,
    write_broker_credentials,
)
from tests.support.mosquitto import Broker, running_broker

pytestmark = pytest.mark.mosquitto
PASSWORDS = {"k1": "kiosk-secret-1", "pad-c1": "pad-secret-1", "server": "server-secret"}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Broker, SiteConfig, OfficeService, Bridge]]:
    site = site_config("acl")
    workdir = tmp_path / "broker"
    server_user = write_broker_credentials(site, workdir, PASSWORDS)
    extra = f"password_file {workdir}/passwd\nacl_file {workdir}/acl"
    with running_broker(workdir, extra=extra) as broker:
        service = make_service(site, tmp_path / "office.db")
        sign_in(service, "c1")
        service.issue_ticket(command_id="seed-1", source="test", service="passport")
        bridge = start_bridge(service, broker.host, broker.port, username=server_user, password=PASSWORDS["server"])
        assert bridge.wait_connected(5)
        try:
            yield broker, site, service, bridge
        finally:
            bridge.stop()


def test_a_kiosks_credentials_cannot_press_a_counters_next(secured: tuple[Broker, SiteConfig, OfficeService, Bridge]) -> None:
    broker, site, service, bridge = secured
    office = site.office.id
    kiosk = Watcher(broker.host, broker.port, username=broker_config.username_for(office, "k1"), password=PASSWORDS["k1"])
    try:
        received_before = bridge.metrics.received
        # Even a perfectly formed command naming the right pad: the broker drops it (ACL), the bridge never sees it.
        forged = command(CounterCommand, "pad-c1", action="next")
        kiosk.publish(contract.topic("counter_command", office, counter="c1"), forged.to_bytes())
        time.sleep(0.5)
        assert bridge.metrics.received == received_before
        assert service.counter_state("c1").status == "idle"
    finally:
        kiosk.close()

    # The pad's own credentials do reach the bridge: the refusal above was the ACL, not a broken path.
    pad = Watcher(broker.host, broker.port, contract.topic("counter_response", office, counter="c1"),
                  username=broker_config.username_for(office, "pad-c1"), password=PASSWORDS["pad-c1"])
    try:
        nxt = command(CounterCommand, "pad-c1", action="next")
        pad.publish(contract.topic("counter_command", office, counter="c1"), nxt.to_bytes())
        assert pad.wait_for(lambda t, d: d["id"] == nxt.id)["status"] == "ok"
        assert service.counter_state("c1").status == "calling"
    finally:
        pad.close()


def test_a_pad_cannot_read_another_nodes_replies_or_publish_the_hall(
        secured: tuple[Broker, SiteConfig, OfficeService, Bridge]) -> None:
    broker, site, service, bridge = secured
    office = site.office.id
    pad = Watcher(broker.host, broker.port, contract.topic("kiosk_response", office, node="k1"),
                  username=broker_config.username_for(office, "pad-c1"), password=PASSWORDS["pad-c1"])
    kiosk = Watcher(broker.host, broker.port, contract.topic("hall_call", office),
                    username=broker_config.username_for(office, "k1"), password=PASSWORDS["k1"])
    try:
        pad.publish(contract.topic("hall_call", office), b'{"v":1}')
        time.sleep(0.4)
        assert kiosk.seen == [], "a pad's fake hall call must not reach anyone"
    finally:
        pad.close()
        kiosk.close()
