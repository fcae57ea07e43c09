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


def test_a_kiosk_printer_that_cannot_work_is_refused_at_check_naming_node_line_and_field() -> None:
    """One office, a 58 mm and an 80 mm kiosk: each printer's width is checked against its own
    profile, by the rule the kiosk applies when it starts; every problem at once."""
    text = INVENTORY.replace(
        "hardware: {serial: {printer: /dev/ttyUSB0}, paper_mm: 80}",
        "hardware:\n      printer:\n        dots: 576\n        profile: POS-5890\n        text_codepage: RK1048")
    text = text.replace("  - id: pad-c1\n",
                        "  - {id: kiosk-2, role: kiosk, hardware: {printer: {dots: 500}}}\n  - id: pad-c1\n")
    with pytest.raises(InventoryError) as e:
        parse_inventory(text, "office.yaml")
    lines = text.splitlines()
    problems = str(e.value).splitlines()
    assert len(problems) == 3, problems
    wide, codepage, odd = problems
    assert "nodes.0.hardware.printer.dots: kiosk 'kiosk-1': 576 is wider than the POS-5890" in wide
    assert lines[int(wide.split(":")[1]) - 1].strip() == "dots: 576"
    assert "nodes.0.hardware.printer.text_codepage: kiosk 'kiosk-1': the POS-5890 profile has no RK1048" in codepage
    assert "nodes.1.hardware.printer.dots: kiosk 'kiosk-2': 500 is not a printable width" in odd


def test_a_mixed_office_of_58_and_80_mm_kiosks_passes_the_check() -> None:
    text = INVENTORY.replace("hardware: {serial: {printer: /dev/ttyUSB0}, paper_mm: 80}",
                             "hardware: {printer: {dots: 576, text_codepage: RK1048}}")
    text = text.replace("  - id: pad-c1\n", "  - {id: kiosk-2, role: kiosk, hardware: {printer: {dots: 384}}}\n"
                                            "  - id: pad-c1\n")
    assert [n.id for n in parse_inventory(text).nodes][:2] == ["kiosk-1", "kiosk-2"]


def test_each_server_instance_gets_a_broker_user_of_its_own_with_the_office_in_the_acl() -> None:
    from cherga.broker_bridge.broker_config import render_acl

    inv = parse_inventory(INVENTORY.replace("office: prov-test\n", "office: prov-test\nserver_instances: 3\n", 1))
    assert inv.server_usernames == ["prov-test.server", "prov-test.server-2", "prov-test.server-3"]
    acl = render_acl(inv.office, [], inv.server_usernames).splitlines()
    for user in inv.server_usernames:
        # Two instances on one user would share a client id (the broker ties ids to users) and knock each other off.
        at = acl.index(f"user {user}")
        assert acl[at + 1] == "topic readwrite cherga/v1/prov-test/#"
