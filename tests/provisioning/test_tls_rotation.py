"""Node certificates rotated without a new SD card (issue 23), on a real Mosquitto over TLS.

The technician runs ``cherga provision tls rotate`` on the laptop; on the broker host the new broker
files go in and ``cherga provision tls push`` publishes each node's new certificate, retained, to the
node's own topic. The running node (the real :class:`NodeSession`) checks it, keeps it under its data
folder and reconnects with it; its old certificate keeps working until ``tls retire`` ends the
overlap, after which the broker refuses it at the handshake. A node started afterwards connects with
the kept certificate, and a certificate for another node is not taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from typer.testing import CliRunner

from cherga.broker_bridge import contract
from cherga.firmware_host import credentials
from cherga.firmware_host.config import load_node_config
from cherga.firmware_host.session import NodeSession
from cherga.provisioning.cli import app
from tests.provisioning.conftest import generated_broker, reload_broker, try_connect, two_free_ports
from tests.support.wait import WAIT_S, wait_until

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _retained(port: int, server: Path, topic: str) -> list[bytes]:
    """The retained message on ``topic`` as the office server sees it (empty list: none)."""
    creds = yaml.safe_load((server / "server-credentials.yaml").read_text())
    got: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{creds['username']}", protocol=mqtt.MQTTv311)
    c.username_pw_set(creds["username"], creds["password"])
    c.on_message = lambda cl, u, msg: got.append(bytes(msg.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        subscribed = c.subscribe(topic, qos=1)
        assert subscribed[0] == mqtt.MQTT_ERR_SUCCESS
        # A marker after the subscription: once it is back, any retained message came before it.
        marker = contract.topic("server_status", "prov-test").replace("server/status", "test/marker")
        c.subscribe(marker, qos=1)
        c.publish(marker, b"m", qos=1).wait_for_publish(5)
        wait_until(lambda: b"m" in got, what="the marker")
        return [m for m in got if m != b"m"]
    finally:
        c.loop_stop()
        c.disconnect()


@pytest.mark.mosquitto
def test_a_running_node_takes_its_rotated_certificate_over_mqtt_and_the_old_one_ends_with_the_overlap(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    port, tls_port = two_free_ports()
    inv = inventory_file(port=port, tls_port=tls_port)
    state = tmp_path / "state"
    _invoke("bundle", str(inv), "kiosk-1", "pad-c1", "--state-dir", str(state), "--wheels", str(wheels_dir))
    card = state / "bundles" / "kiosk-1"
    card_tls = tmp_path / "card-kiosk-1-tls"  # the card's files as they were (bundle rewrites its folder)
    card_tls.mkdir()
    for name in ("ca.crt", "node.crt", "node.key"):
        (card_tls / name).write_bytes((card / "tls" / name).read_bytes())
    card_password = (card / "mqtt-password").read_text().strip()
    old_serial = credentials.serial_of(card / "tls" / "node.crt")
    host = tmp_path / "broker-host"
    data = tmp_path / "kiosk-data"
    config = load_node_config(card / "node.yaml").model_copy(update={"data_dir": data})

    with generated_broker(inv, state, host, plain_port=port) as broker:
        session = NodeSession(config)
        connects: list[bool] = []
        session.on_connection(lambda up: connects.append(up))
        session.start()
        try:
            assert session.wait_connected(WAIT_S)
            assert session.cert_serial == old_serial

            out = _invoke("tls", "rotate", str(inv), "kiosk-1", "--overlap-days", "14", "--state-dir", str(state))
            assert "kiosk-1: new certificate" in out and "tls push" in out
            message = json.loads((state / "server" / "rotation" / "kiosk-1.json").read_bytes())
            new_serial = message["serial"]
            assert new_serial != old_serial
            assert (state / "server" / "rotation" / "kiosk-1.json").stat().st_mode & 0o777 == 0o600
            reload_broker(broker, inv, state, host)  # the new broker certificate and the CRL (still empty)
            pushed = _invoke("tls", "push", str(host / "cherga"), "--mqtt", f"127.0.0.1:{port}")
            assert f"kiosk-1: published ({new_serial})" in pushed

            # The node keeps the new pair and reconnects with it (the broker lets it in as kiosk-1).
            wait_until(lambda: session.cert_serial == new_serial and connects.count(True) >= 2 and session.connected,
                       what=lambda: f"the node reconnected with its new certificate (connects: {connects})")
            kept = credentials.rotated_pair(data)
            assert kept is not None and credentials.serial_of(kept[0]) == new_serial
            assert kept[1].stat().st_mode & 0o777 == 0o600

            # During the overlap the card's certificate still works (a node that was off fetches later).
            assert try_connect(tls_port, "prov-test.kiosk-1", card_password, tls=card_tls, ca=card_tls / "ca.crt")
        finally:
            session.stop()

        out = _invoke("tls", "retire", str(inv), "--state-dir", str(state))
        assert "retired now" in out
        reload_broker(broker, inv, state, host)
        wait_until(lambda: not try_connect(tls_port, "prov-test.kiosk-1", card_password, tls=card_tls,
                                           ca=card_tls / "ca.crt"),
                   what="the broker refusing the replaced certificate after the overlap")
        assert try_connect(tls_port, "prov-test.kiosk-1", card_password, tls=kept[0].parent, ca=card_tls / "ca.crt")

        # The node started again (a reboot) connects with the kept certificate, not the card's.
        again = NodeSession(config)
        again.start()
        try:
            assert again.wait_connected(WAIT_S), (host / "mosquitto.log").read_text()[-1500:]
            assert again.cert_serial == new_serial
        finally:
            again.stop()

        # The private keys do not stay on the broker once the overlap is over.
        topic = contract.topic("node_credentials", "prov-test", node="kiosk-1")
        assert len(_retained(port, host / "cherga", topic)) == 1
        assert "kiosk-1: cleared" in _invoke("tls", "push", str(host / "cherga"), "--mqtt", f"127.0.0.1:{port}", "--clear")
        assert _retained(port, host / "cherga", topic) == []

        # pad-c1 was not rotated: its card's certificate works as before.
        pad = state / "bundles" / "pad-c1"
        assert try_connect(tls_port, "prov-test.pad-c1", (pad / "mqtt-password").read_text().strip(),
                           tls=pad / "tls", ca=pad / "tls" / "ca.crt")


def test_a_certificate_for_another_node_or_with_a_foreign_key_is_not_taken(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    from cherga.provisioning.tls import SiteCA

    ca = SiteCA(tmp_path / "ca", "prov-test")
    mine, other = ca.issue("prov-test.kiosk-1"), ca.issue("prov-test.pad-c1")
    stranger = SiteCA(tmp_path / "stranger", "prov-test").issue("prov-test.kiosk-1")
    ca_file = tmp_path / "ca" / "ca.crt"
    data = tmp_path / "data"

    def offer(cert: bytes, key: bytes, serial: str) -> str:
        msg = contract.NodeCredentials(node="kiosk-1", serial=serial, cert_pem=cert.decode(), key_pem=key.decode(),
                                       issued_at="2026-03-02T09:15:04Z")  # type: ignore[arg-type]
        with pytest.raises(credentials.CredentialsError) as exc:
            credentials.store(msg, data, username="prov-test.kiosk-1", ca_file=ca_file)
        return str(exc.value)

    assert "names 'prov-test.pad-c1'" in offer(other.cert_pem, other.key_pem, other.serial)
    assert "does not fit" in offer(mine.cert_pem, other.key_pem, mine.serial)
    assert "not one the site CA signed" in offer(stranger.cert_pem, stranger.key_pem, stranger.serial)
    assert credentials.rotated_pair(data) is None  # nothing refused is kept
    good = contract.NodeCredentials(node="kiosk-1", serial=mine.serial, cert_pem=mine.cert_pem.decode(),
                                    key_pem=mine.key_pem.decode(), issued_at="2026-03-02T09:15:04Z")  # type: ignore[arg-type]
    cert, _key = credentials.store(good, data, username="prov-test.kiosk-1", ca_file=ca_file)
    assert credentials.serial_of(cert) == mine.serial
    assert sorted(p.name for p in (data / "tls").iterdir()) == sorted([mine.serial, credentials.CURRENT])
