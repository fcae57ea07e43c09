"""A technician's inventory mistakes come back as the line and field to fix."""

from __future__ import annotations

import pytest

from cherga.provisioning.inventory import InventoryError, check_against_site, parse_inventory
from tests.provisioning.conftest import INVENTORY


def test_example_inventory_is_valid_and_fills_defaults() -> None:
    inv = parse_inventory(INVENTORY)
    assert [n.id for n in inv.nodes] == ["kiosk-1", "pad-c1", "hall-1"]
    kiosk, pad, hall = inv.nodes
    assert kiosk.host_name == "cherga-kiosk-1" and hall.host_name == "hall-tv"
    assert inv.network_of(kiosk).kind == "wifi" and inv.network_of(kiosk).dhcp
    assert inv.network_of(pad).address == "192.168.10.31/24" and inv.network_of(pad).kind == "ethernet"
    assert inv.network_of(hall).kind == "ethernet" and inv.network_of(hall).dhcp
    assert inv.server_username == "prov-test.server"


def test_pad_without_counter_names_its_line() -> None:
    text = INVENTORY.replace("    counter: c1\n", "")
    with pytest.raises(InventoryError) as e:
        parse_inventory(text, "office.yaml")
    assert "office.yaml:" in str(e.value) and "a pad needs the counter" in str(e.value)
    line = int(str(e.value).split(":")[1])
    assert text.splitlines()[line - 1].strip().startswith("- id: pad-c1")


def test_short_wifi_passphrase_points_at_the_psk_field() -> None:
    text = INVENTORY.replace('psk: "correct horse battery"', 'psk: "short"')
    with pytest.raises(InventoryError, match=r"office.yaml:5: network.wifi.psk: .*at least 8"):
        parse_inventory(text, "office.yaml")


def test_static_address_without_prefix_is_explained() -> None:
    text = INVENTORY.replace("192.168.10.31/24", "192.168.10.31")
    with pytest.raises(InventoryError, match=r"office.yaml:16: nodes.1.network.address: .*needs its prefix length"):
        parse_inventory(text, "office.yaml")


def test_gateway_outside_the_subnet_is_refused() -> None:
    text = INVENTORY.replace("gateway: 192.168.10.1", "gateway: 10.0.0.1")
    with pytest.raises(InventoryError, match="outside 192.168.10.0/24"):
        parse_inventory(text)


def test_two_nodes_with_one_hostname_or_address_are_refused() -> None:
    with pytest.raises(InventoryError, match="hostnames: 'hall-tv' appears twice"):
        parse_inventory(INVENTORY.replace("    role: kiosk\n", "    role: kiosk\n    hostname: hall-tv\n"))
    twin = INVENTORY.replace("    network: {}\n", "    network: {address: 192.168.10.31/24}\n")
    with pytest.raises(InventoryError, match="both have the static address 192.168.10.31"):
        parse_inventory(twin)


def test_unknown_field_and_bad_yaml_are_reported_not_crashed() -> None:
    with pytest.raises(InventoryError, match=r"x.yaml:3: broker.hots: Extra inputs"):
        parse_inventory(INVENTORY.replace("broker: {host: 127.0.0.1, port: 1883}",
                                          "broker:\n  hots: 1.2.3.4\n  host: h"), "x.yaml")
    with pytest.raises(InventoryError, match="not valid YAML"):
        parse_inventory("office: [unclosed", "x.yaml")


def test_inventory_is_checked_against_the_site_counters() -> None:
    inv = parse_inventory(INVENTORY)
    assert check_against_site(inv, {"c1", "c2"}, "prov-test") == []
    problems = check_against_site(inv, {"c2"}, "other")
    assert any("office 'prov-test'" in p for p in problems) and any("counter 'c1'" in p for p in problems)
