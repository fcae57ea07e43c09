"""The technician's whole path: inventory → card image → node online on the office broker → revoked."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from cherga.broker_bridge import contract
from cherga.broker_bridge.broker_config import parse_password_file, verify_password
from cherga.firmware_host.config import load_node_config
from cherga.provisioning import image as image_mod
from cherga.provisioning.cli import app
from tests.provisioning.conftest import (
    CMDLINE,
    build_image,
    generated_broker,
    mdir,
    mtype,
    reload_broker,
    try_connect,
    two_free_ports,
)
from tests.support.wait import WAIT_S, wait_until

runner = CliRunner()
AS_ROOT = "user root\n" if os.geteuid() == 0 else ""  # root Mosquitto would drop to a user that cannot read tmp


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _install_from_image(img: Path, dest: Path) -> Path:
    """What first boot does with the bundle: node.yaml, secrets and TLS files into the config folder."""
    (dest / "tls").mkdir(parents=True, exist_ok=True)
    for name in ("node.yaml", "mqtt-password", "tls/ca.crt", "tls/node.crt", "tls/node.key"):
        (dest / name).write_bytes(image_mod.read_file(img, f"/cherga/{name}"))
    return dest / "node.yaml"


def _server_watch(host: str, port: int, user: str, password: str) -> tuple[mqtt.Client, dict[str, dict[str, object]]]:
    statuses: dict[str, dict[str, object]] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            statuses[msg.topic] = json.loads(msg.payload)

    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(contract.subscription("node_status", "prov-test"), qos=1)
    c.connect(host, port)
    c.loop_start()
    return c, statuses


@pytest.mark.mosquitto
def test_card_image_brings_a_kiosk_online_over_tls_and_revocation_shuts_it_out(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    port, tls_port = two_free_ports()
    inv = inventory_file(port=port, tls_port=tls_port)  # TLS is the default: only its port is chosen here
    state = tmp_path / "state"
    base = build_image(tmp_path / "raspios-trixie.img")
    card = tmp_path / "kiosk-1.img"

    assert "OK — office prov-test: 1 kiosk, 1 display, 1 pad" in _invoke("check", str(inv))
    out = _invoke("image", str(inv), "kiosk-1", "--image", str(base), "--output", str(card),
                  "--wheels", str(wheels_dir), "--state-dir", str(state))
    assert "read back" in out and "cloud-init" in out

    # The technician's base image is untouched; the card copy carries the node.
    assert "cherga" not in mdir(base) and mtype(base, "user-data") == "#cloud-config\n"
    assert "cherga" in mdir(card) and mtype(card, "cmdline.txt") == CMDLINE
    assert "cherga-0.1.0-py3-none-any.whl" in mdir(card, "/cherga/wheels")

    # The broker files know the node, with the password on the card.
    server = state / "server"
    users = parse_password_file((server / "passwd").read_text())
    card_password = mtype(card, "cherga/mqtt-password").strip()
    assert verify_password(card_password, users["prov-test.kiosk-1"])
    assert "user prov-test.kiosk-1" in (server / "acl").read_text()
    assert (state / "state.json").stat().st_mode & 0o777 == 0o600

    # A second card for another node gets different credentials (never reused).
    _invoke("image", str(inv), "hall-1", "--image", str(base), "--output", str(tmp_path / "hall.img"),
            "--wheels", str(wheels_dir), "--state-dir", str(state))
    assert mtype(tmp_path / "hall.img", "cherga/mqtt-password").strip() != card_password
    assert mtype(tmp_path / "hall.img", "cherga/enroll-token") != mtype(card, "cherga/enroll-token")

    server_user = json.loads((state / "state.json").read_text())
    host = tmp_path / "broker-host"
    with generated_broker(inv, state, host, plain_port=port) as broker:
        # The office server beside the broker: the loopback listener, its password.
        watch, statuses = _server_watch(broker.host, port, "prov-test.server", server_user["server_password"])
        config_path = _install_from_image(card, tmp_path / "etc-cherga")
        config = load_node_config(config_path)
        assert config.broker.port == tls_port and config.broker.tls is not None
        assert config.broker.resolved_password() == card_password
        assert config.timezone == "Europe/Kyiv"  # the node checks it has the zone's data before it starts

        from cherga.firmware_host.session import NodeSession

        session = NodeSession(config.model_copy(update={"data_dir": tmp_path / "var"}))
        session.start()
        status_topic = contract.topic("node_status", "prov-test", node="kiosk-1")
        try:
            assert session.wait_connected(WAIT_S), "the node never connected with its card's credentials"
            wait_until(lambda: statuses.get(status_topic, {}).get("state") == "online",
                       what=lambda: f"the node online (statuses: {statuses})")
        finally:
            session.stop()
        wait_until(lambda: statuses.get(status_topic, {}).get("state") == "offline", what="the node offline")

        ca = config_path.parent / "tls" / "ca.crt"
        card_tls = config_path.parent / "tls"
        assert try_connect(tls_port, "prov-test.kiosk-1", card_password, tls=card_tls, ca=ca)
        out = _invoke("revoke", str(inv), "kiosk-1", "--state-dir", str(state))
        assert "revoked" in out
        assert "prov-test.kiosk-1" not in parse_password_file((server / "passwd").read_text())
        assert "kiosk-1" not in (server / "acl").read_text()
        reload_broker(broker, inv, state, host)  # the new files in place, `systemctl reload mosquitto`
        # The broker takes the certificate's name as the user and never reads the password file on
        # its TLS listener: only the CRL keeps the lost card out.
        wait_until(lambda: not try_connect(tls_port, "prov-test.kiosk-1", card_password, tls=card_tls, ca=ca),
                   what="the broker refusing the revoked card")
        # The other node is unaffected.
        hall_etc = tmp_path / "etc-hall"
        _install_from_image(tmp_path / "hall.img", hall_etc)
        hall_pw = mtype(tmp_path / "hall.img", "cherga/mqtt-password").strip()
        assert try_connect(tls_port, "prov-test.hall-1", hall_pw, tls=hall_etc / "tls", ca=ca)
        watch.loop_stop()
        watch.disconnect()

    # A revoked node gets no new card by accident.
    result = runner.invoke(app, ["bundle", str(inv), "kiosk-1", "--state-dir", str(state), "--wheels", str(wheels_dir)])
    assert result.exit_code == 1 and "was revoked" in result.output


def test_bad_image_is_refused_before_anything_is_issued(tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    inv = inventory_file()
    raw = tmp_path / "download.img.xz"
    raw.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 4096)
    result = runner.invoke(app, ["image", str(inv), "kiosk-1", "--image", str(raw), "--state-dir", str(tmp_path / "s"),
                                 "--output", str(tmp_path / "out.img")])
    assert result.exit_code == 1 and "no partition table" in result.output
    assert not (tmp_path / "out.img").exists() and not (tmp_path / "s" / "state.json").exists()


def test_inventory_error_is_shown_with_its_line(tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    from tests.provisioning.conftest import INVENTORY

    inv = inventory_file(INVENTORY.replace("role: display", "role: tv"))
    result = runner.invoke(app, ["check", str(inv)])
    assert result.exit_code == 1
    assert "office.yaml:" in result.output and "nodes.2.role" in result.output


def test_tls_inventory_gives_nodes_certificates_and_the_broker_a_tls_listener(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    inv = inventory_file()  # no `tls:` at all: TLS is the default
    state = tmp_path / "state"
    _invoke("bundle", str(inv), "pad-c1", "--state-dir", str(state), "--wheels", str(wheels_dir))
    b = state / "bundles" / "pad-c1"
    assert {"ca.crt", "node.crt", "node.key"} <= {p.name for p in (b / "tls").iterdir()}
    cfg = load_node_config(b / "node.yaml")
    assert cfg.broker.port == 8883 and cfg.broker.tls is not None and cfg.broker.tls.cert_file is not None
    conf = (state / "server" / "mosquitto.conf").read_text()
    assert "listener 8883\n" in conf and "require_certificate true" in conf and "use_identity_as_username true" in conf
    assert "crlfile /etc/mosquitto/cherga/tls/crl.pem" in conf and (state / "server" / "tls" / "crl.pem").is_file()
    # The plain listener is for the office server beside the broker only.
    assert "listener 1883 127.0.0.1\n" in conf and "listener 1883\n" not in conf
    assert (state / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600


def test_plain_mqtt_only_when_the_inventory_says_tls_false_and_then_loudly(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    from tests.provisioning.conftest import PLAIN_INVENTORY

    inv = inventory_file(PLAIN_INVENTORY)
    state = tmp_path / "state"
    checked = _invoke("check", str(inv))
    assert "INSECURE" in checked and "tls: false" in checked and "(PLAIN)" in checked
    out = _invoke("bundle", str(inv), "pad-c1", "--state-dir", str(state), "--wheels", str(wheels_dir))
    assert "INSECURE" in out and "in clear" in out
    cfg = load_node_config(state / "bundles" / "pad-c1" / "node.yaml")
    assert cfg.broker.port == 1883 and cfg.broker.tls is None
    assert not (state / "bundles" / "pad-c1" / "tls").exists() and not (state / "ca").exists()
    conf = (state / "server" / "mosquitto.conf").read_text()
    assert "listener 1883\n" in conf and "8883" not in conf
    # The default says nothing of the kind.
    assert "INSECURE" not in _invoke("check", str(inventory_file()))


def test_an_empty_tls_key_is_refused_rather_than_read_as_plain(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    from tests.provisioning.conftest import INVENTORY

    inv = inventory_file(INVENTORY.replace("broker: {host: 127.0.0.1, port: 1883}",
                                           "broker: {host: 127.0.0.1, port: 1883, tls: null}"))
    result = runner.invoke(app, ["check", str(inv)])
    assert result.exit_code == 1
    assert "office.yaml:2" in result.output and "broker.tls" in result.output and "tls: false" in result.output


@pytest.mark.mosquitto
def test_node_with_site_certificates_connects_over_tls_to_the_generated_broker(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    from cherga.firmware_host.session import NodeSession

    port, tls_port = two_free_ports()
    inv = inventory_file(port=port, tls_port=tls_port)
    state = tmp_path / "state"
    _invoke("bundle", str(inv), "pad-c1", "--state-dir", str(state), "--wheels", str(wheels_dir))
    with generated_broker(inv, state, tmp_path / "broker-host", plain_port=port):
        config = load_node_config(state / "bundles" / "pad-c1" / "node.yaml")
        session = NodeSession(config.model_copy(update={"data_dir": tmp_path / "var"}))
        session.start()
        try:
            assert session.wait_connected(WAIT_S), (tmp_path / "broker-host" / "mosquitto.log").read_text()[-1500:]
        finally:
            session.stop()
        # Without a certificate the node's own password does not open the TLS listener.
        password = (state / "bundles" / "pad-c1" / "mqtt-password").read_text().strip()
        assert not try_connect(tls_port, "prov-test.pad-c1", password,
                               ca=state / "bundles" / "pad-c1" / "tls" / "ca.crt")


def test_output_equal_to_the_source_image_is_refused(tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    base = build_image(tmp_path / "raspios.img")
    before = base.read_bytes()
    result = runner.invoke(app, ["image", str(inventory_file()), "kiosk-1", "--image", str(base), "--output", str(base),
                                 "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1 and "source image itself" in result.output
    assert base.read_bytes() == before


def test_rotating_a_nodes_credentials_puts_its_old_certificate_on_the_revocation_list(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    from cryptography import x509

    inv = inventory_file()
    state = tmp_path / "state"
    cert = state / "bundles" / "kiosk-1" / "tls" / "node.crt"
    _invoke("bundle", str(inv), "kiosk-1", "--state-dir", str(state), "--wheels", str(wheels_dir))
    old = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    _invoke("bundle", str(inv), "kiosk-1", "--rotate", "--state-dir", str(state), "--wheels", str(wheels_dir))
    new = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    crl = x509.load_pem_x509_crl((state / "server" / "tls" / "crl.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((state / "ca" / "ca.crt").read_bytes())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    # The old card's certificate goes with its password; the new card's is honoured.
    assert crl.get_revoked_certificate_by_serial_number(old) is not None
    assert crl.get_revoked_certificate_by_serial_number(new) is None


def test_an_office_with_plain_cards_is_not_shut_out_by_the_tls_default(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    from tests.provisioning.conftest import INVENTORY, PLAIN_INVENTORY

    state = tmp_path / "state"
    # Cards made while the office was plain (before TLS became the default, or with tls: false).
    _invoke("bundle", str(inventory_file(PLAIN_INVENTORY)), "kiosk-1", "--state-dir", str(state),
            "--wheels", str(wheels_dir))
    before = (state / "server" / "mosquitto.conf").read_text()
    # The same inventory without `tls: false`: the broker files would close 1883 to the hall.
    refused = runner.invoke(app, ["server", str(inventory_file(INVENTORY)), "--state-dir", str(state)])
    assert refused.exit_code == 1 and "kiosk-1" in refused.output and "plain_listener: true" in refused.output
    assert (state / "server" / "mosquitto.conf").read_text() == before and not (state / "ca").exists()
    # Not even a revocation half-done: refused before the state changes.
    revoking = runner.invoke(app, ["revoke", str(inventory_file(INVENTORY)), "kiosk-1", "--state-dir", str(state)])
    assert revoking.exit_code == 1 and "plain_listener: true" in revoking.output
    assert "kiosk-1" in json.loads((state / "state.json").read_text())["nodes"]
    # Keeping the port open while the cards are made again: both listeners, the plain one for everyone.
    moving = inventory_file(INVENTORY.replace("port: 1883}", "port: 1883, tls: {plain_listener: true}}"))
    _invoke("server", str(moving), "--state-dir", str(state))
    conf = (state / "server" / "mosquitto.conf").read_text()
    assert "listener 1883\n" in conf and "listener 8883\n" in conf
    # Once its card is made again (with a certificate) the default applies.
    _invoke("bundle", str(moving), "kiosk-1", "--rotate", "--state-dir", str(state), "--wheels", str(wheels_dir))
    _invoke("server", str(inventory_file(INVENTORY)), "--state-dir", str(state))
    assert "listener 1883 127.0.0.1\n" in (state / "server" / "mosquitto.conf").read_text()


def test_a_state_from_before_tls_by_default_counts_its_cards_as_plain(tmp_path: Path) -> None:
    from cherga.provisioning.state import SiteState

    legacy = {"office": "prov-test", "server_password": "s" * 32, "revoked": {}, "issued": [],
              "nodes": {"kiosk-1": {"node": "kiosk-1", "username": "prov-test.kiosk-1", "password": "p" * 32,
                                    "token": "t" * 22, "issued_at": "2026-01-01T00:00:00+00:00"}}}
    (tmp_path / "state.json").write_text(json.dumps(legacy))
    assert SiteState.load(tmp_path, "prov-test").nodes["kiosk-1"].card == "plain"
    (tmp_path / "ca").mkdir()  # an office that had opted into TLS: its cards carried certificates
    assert SiteState.load(tmp_path, "prov-test").nodes["kiosk-1"].card == ""
