"""The node config file: validated, errors name the line, relative paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from cherga.firmware_host.config import NodeConfigError, load_node_config, parse_node_config

PAD = """\
node: pad-c1
role: pad
office: demo
counter: c1
broker:
  host: 192.168.1.10
  port: 8883
  username: demo.pad-c1
  password_file: secret/mqtt-password
  tls: {ca_file: ca.crt}
data_dir: data
hardware:
  pin_factory: lgpio
  serial: {board: usb:0403:6001}
  pins: {buttons: {next: 5}}
"""


def test_a_pad_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "mqtt-password").write_text("s3cret\n")
    path = tmp_path / "node.yaml"
    path.write_text(PAD)
    cfg = load_node_config(path)
    assert cfg.counter == "c1" and cfg.broker.port == 8883
    assert cfg.broker.resolved_password() == "s3cret"
    assert cfg.broker.tls is not None and cfg.broker.tls.ca_file == tmp_path / "ca.crt"
    assert cfg.data_dir == tmp_path / "data" and cfg.outbox_path == tmp_path / "data" / "outbox.sqlite"
    assert cfg.hardware.pin_factory == "lgpio" and cfg.hardware.serial["board"] == "usb:0403:6001"
    assert cfg.hardware.option("pins") == {"buttons": {"next": 5}}, "role-specific options are kept for the role"


def test_a_pad_without_its_counter_is_refused_naming_the_line() -> None:
    text = PAD.replace("counter: c1\n", "")
    with pytest.raises(NodeConfigError, match=r"node\.yaml:1: .*counter"):
        parse_node_config(text, "node.yaml")


def test_a_bad_port_is_refused_naming_line_and_field() -> None:
    with pytest.raises(NodeConfigError, match=r"node\.yaml:7: broker\.port"):
        parse_node_config(PAD.replace("8883", "99999"), "node.yaml")


def test_an_unknown_role_and_a_typo_are_refused() -> None:
    with pytest.raises(NodeConfigError, match="role"):
        parse_node_config(PAD.replace("role: pad", "role: printer"), "node.yaml")
    with pytest.raises(NodeConfigError, match="brokr"):
        parse_node_config(PAD.replace("broker:", "brokr:"), "node.yaml")


def test_a_missing_file_and_broken_yaml_say_so(tmp_path: Path) -> None:
    with pytest.raises(NodeConfigError, match="cannot read"):
        load_node_config(tmp_path / "absent.yaml")
    with pytest.raises(NodeConfigError, match="not valid YAML"):
        parse_node_config("node: [", "node.yaml")


KIOSK = """\
node: kiosk-1
role: kiosk
office: demo
broker: {host: 192.168.1.10, port: 1883}
hardware:
  printer:
    type: serial
    dots: 576
    profile: POS-5890
"""


def test_a_kiosk_printer_wider_than_its_profile_is_a_bad_config_naming_line_and_field() -> None:
    with pytest.raises(NodeConfigError, match=r"node.yaml:8: hardware.printer.dots: 576 is wider than the POS-5890"):
        parse_node_config(KIOSK, "node.yaml")
    assert parse_node_config(KIOSK.replace("dots: 576", "dots: 384"), "node.yaml").hardware.option("printer")["dots"] == 384


def test_cherga_node_exits_2_on_a_printer_setting_that_cannot_work(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cherga.firmware_host.launcher import EXIT_BAD_CONFIG, run_node

    path = tmp_path / "node.yaml"
    path.write_text(KIOSK.replace("dots: 576\n", "dots: 384\n    text_codepage: RK1048\n"), encoding="utf-8")
    assert run_node(path) == EXIT_BAD_CONFIG == 2
    assert f"{path}:9: hardware.printer.text_codepage: the POS-5890 profile has no RK1048" in capsys.readouterr().err
