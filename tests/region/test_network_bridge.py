"""An office server with its own broker takes the region's retained network load (``region_network``) and
its hall state, which kiosks and displays draw, names the faster office (issue 21). Real Mosquitto."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import NetworkLoad, NetworkOffice, NetworkService
from tests.bridge.conftest import Watcher, make_service, office_clock, sign_in, site_config
from tests.support.mosquitto import Broker


def _network(at: dt.datetime, wait: int) -> NetworkLoad:
    south = NetworkOffice(office="south", names={"uk": "ЦНАП Південний", "en": "South office"},
                          address={"uk": "просп. Миру, 25", "en": "25 Myru Ave"}, open_now=True, updated_at=at,
                          services=[NetworkService(service="driver", names={"uk": "Водії"}, waiting=0, counters_open=1,
                                                   wait_min=wait, wait_max_min=wait + 5)])
    return NetworkLoad(region="city", offices=[south], at=at)


def test_the_retained_network_load_puts_the_faster_office_into_the_hall_state(
        mosquitto: Broker, tmp_path: Path, bridges: list[Bridge], watchers: list[Watcher]) -> None:
    clock = office_clock()
    service = make_service(site_config(), tmp_path / "office.db", clock)
    sign_in(service, "c9")  # the only desk for driver licences
    for i in range(8):
        service.issue_ticket(command_id=f"d{i}", source="kiosk", service="driver")
    region = Watcher(mosquitto.host, mosquitto.port)
    watchers.append(region)
    topic = contract.topic("region_network", "demo")
    # retained before the office connects: what an office coming back online finds
    region.client.publish(topic, _network(clock(), 3).to_bytes(), qos=1, retain=True).wait_for_publish(5)
    hall = Watcher(mosquitto.host, mosquitto.port, contract.topic("hall_state", "demo"))
    watchers.append(hall)
    bridges.append(start_bridge(service, mosquitto.host, mosquitto.port))

    def driver(_: str, data: dict[str, Any]) -> bool:
        load = {s["service"]: s for s in data.get("load", [])}
        found = load.get("driver", {}).get("faster_at")
        return bool(found and found["office"] == "south")

    state = hall.wait_for(driver)
    faster = {s["service"]: s for s in state["load"]}["driver"]["faster_at"]
    assert faster["address"]["uk"] == "просп. Миру, 25" and faster["wait_min"] == 3
    # the region says south is as full now: the suggestion goes from the hall state
    region.client.publish(topic, _network(clock(), 200).to_bytes(), qos=1, retain=True).wait_for_publish(5)
    hall.wait_for(lambda t, d: {s["service"]: s for s in d.get("load", [])}["driver"].get("faster_at") is None)


def test_a_malformed_network_load_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    service = make_service(site_config(), tmp_path / "office.db")
    bridge = Bridge(service, "127.0.0.1", 1)
    assert bridge.take_network(json.dumps({"v": 1, "region": "city"}).encode()) is False
    assert service.network is None
    assert bridge.take_network(_network(dt.datetime.now(dt.UTC), 3).to_bytes()) is True
    assert service.network is not None and service.network.offices[0].office == "south"
    assert bridge.take_network(b"") is True and service.network is None  # the region cleared it
