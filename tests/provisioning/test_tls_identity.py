"""Transport security as provisioning sets it up: a node's certificate is bound to its id on the
broker's TLS listener, and the office server speaks HTTPS with HSTS.

A laptop on the hall network with one node's certificate (a stolen SD card) and another node's
password must act as nobody but the certificate's node; without a certificate from the site CA it
cannot connect at all. A browser that reached the office over HTTPS is told to use nothing else.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from typer.testing import CliRunner

from cherga.broker_bridge import contract
from cherga.broker_bridge.broker_config import TlsFiles, render_mosquitto_conf
from cherga.provisioning.cli import app
from cherga.provisioning.tls import SiteCA
from tests.provisioning.conftest import INVENTORY
from tests.support.mosquitto import Broker, free_port
from tests.support.wait import wait_until

runner = CliRunner()
AS_ROOT = "user root\n" if os.geteuid() == 0 else ""
REPO = Path(__file__).resolve().parents[2]


def _client(name: str, port: int, ca: Path, cert: Path | None, key: Path | None,
            username: str, password: str | None) -> tuple[mqtt.Client, list[object]]:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    c.tls_set(ca_certs=str(ca), certfile=str(cert) if cert else None, keyfile=str(key) if key else None)
    c.username_pw_set(username, password)
    answers: list[object] = []
    c.on_connect = lambda cl, u, f, rc, p: answers.append(rc)
    return c, answers


@pytest.mark.mosquitto
def test_a_nodes_certificate_acts_only_as_its_own_node_whatever_password_comes_with_it(
        tmp_path: Path, inventory_file: Callable[..., Path], wheels_dir: Path) -> None:
    port = free_port()
    inv = inventory_file(INVENTORY.replace(
        "broker: {host: 127.0.0.1, port: 1883}",
        f"broker: {{host: 127.0.0.1, port: 1883, tls: {{port: {port}, require_certificate: true}}}}"))
    state = tmp_path / "state"
    for node in ("kiosk-1", "pad-c1"):
        result = runner.invoke(app, ["bundle", str(inv), node, "--state-dir", str(state), "--wheels", str(wheels_dir)])
        assert result.exit_code == 0, result.output
    server = state / "server"
    conf = tmp_path / "test.conf"
    conf.write_text(render_mosquitto_conf(
        password_file=str(server / "passwd"), acl_file=str(server / "acl"), port=None, tls_port=port,
        tls=TlsFiles(str(server / "tls/ca.crt"), str(server / "tls/server.crt"), str(server / "tls/server.key"),
                     require_certificate=True),
        persistence=False, log_dest="stderr") + AS_ROOT)
    assert "use_identity_as_username true" in conf.read_text()
    # The office server's own client certificate, from the same site CA (its user is in the ACL).
    ca = SiteCA(state / "ca", "prov-test")
    issued = ca.issue("prov-test.server")
    (tmp_path / "server.crt").write_bytes(issued.cert_pem)
    (tmp_path / "server.key").write_bytes(issued.key_pem)
    ca_file = server / "tls/ca.crt"
    kiosk_tls = state / "bundles" / "kiosk-1" / "tls"
    pad_password = (state / "bundles" / "pad-c1" / "mqtt-password").read_text().strip()
    broker = Broker(tmp_path, "127.0.0.1", port, config_file=conf)
    broker.start()
    clients: list[mqtt.Client] = []
    try:
        seen: list[str] = []
        lock = threading.Lock()
        server_password = yaml.safe_load((server / "server-credentials.yaml").read_text())["password"]
        office, got = _client("watch", port, ca_file, tmp_path / "server.crt", tmp_path / "server.key",
                              "prov-test.server", server_password)
        def heard(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            with lock:
                seen.append(msg.topic)

        office.on_message = heard
        clients.append(office)
        office.connect("127.0.0.1", port)
        office.loop_start()
        wait_until(lambda: got, what="the office's TLS connection")
        office.subscribe("cherga/v1/prov-test/#", qos=1)[1]
        wait_until(lambda: office.is_connected(), what="subscribed")

        # kiosk-1's certificate and key (from its SD card) with pad-c1's user name and password.
        thief, answered = _client("thief", port, ca_file, kiosk_tls / "node.crt", kiosk_tls / "node.key",
                                  "prov-test.pad-c1", pad_password)
        clients.append(thief)
        thief.connect("127.0.0.1", port)
        thief.loop_start()
        wait_until(lambda: answered, what="the broker's answer")
        pad_topic = contract.topic("counter_command", "prov-test", counter="c1")
        kiosk_topic = contract.topic("kiosk_issue", "prov-test", node="kiosk-1")
        thief.publish(pad_topic, b'{"forged": true}', qos=1).wait_for_publish(5)
        thief.publish(kiosk_topic, b'{"marker": true}', qos=1).wait_for_publish(5)
        # The broker took it as kiosk-1 (its certificate): kiosk-1's topic passes, the pad's is dropped.
        wait_until(lambda: kiosk_topic in seen, what="kiosk-1's own topic at the office")
        assert pad_topic not in seen, "one node's certificate with another's password acted as the other node"

        # No certificate from the site CA: no connection at all, whatever the password.
        bare, connacks = _client("bare", port, ca_file, None, None, "prov-test.pad-c1", pad_password)
        try:
            bare.connect("127.0.0.1", port)  # under TLS 1.3 the broker judges the (missing) certificate after this
            for _ in range(60):  # until the broker answers or closes the connection
                if connacks or bare.loop(timeout=1.0) != mqtt.MQTT_ERR_SUCCESS:
                    break
        except (ssl.SSLError, OSError):
            pass  # refused during the handshake
        assert connacks == [], f"a client without a certificate was let in: {connacks}"
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        broker.stop()


def test_the_office_server_over_https_sends_hsts_and_answers_no_plain_http(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    # The office's HTTPS certificate as `cherga provision server` writes it (TLS is the default).
    state = tmp_path / "state"
    result = runner.invoke(app, ["server", str(inventory_file()), "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    https = state / "server" / "https"
    assert (https / "office.key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "office.crt").write_bytes((https / "office.crt").read_bytes())
    (tmp_path / "office.key").write_bytes((https / "office.key").read_bytes())
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.crt").write_bytes((https / "ca.crt").read_bytes())
    port = free_port()
    log = tmp_path / "server.log"
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "cherga", "server", "--config", str(REPO / "examples/demo-office.yaml"),
                             "--db", f"sqlite:///{tmp_path / 'o.db'}", "--port", str(port),
                             "--tls-cert", str(tmp_path / "office.crt"), "--tls-key", str(tmp_path / "office.key")],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca" / "ca.crt"))

        def healthy() -> httpx.Response | None:
            try:
                return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ctx, timeout=2)
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()[-2000:]
                return None

        r = wait_until(healthy, timeout=60, what="the office over HTTPS")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
