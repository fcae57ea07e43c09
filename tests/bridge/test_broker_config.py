"""The generated Mosquitto files: a real broker lets each node do its own job and nothing more."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.broker_config import (
    READS,
    BrokerConfigError,
    Node,
    hash_password,
    node_reads,
    node_writes,
    parse_password_file,
    render_acl,
    render_mosquitto_conf,
    render_password_file,
    username_for,
    verify_password,
)
from tests.support.mosquitto import Broker, free_port, running_broker
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import WAIT_S, wait_until

OFFICE = "acl-office"
NODES = [Node("kiosk-1", "kiosk"), Node("pad-1", "pad", counter="c1"), Node("display-1", "display")]
PASSWORDS = {"server": "server-secret", username_for(OFFICE, "kiosk-1"): "kiosk-secret",
             username_for(OFFICE, "pad-1"): "pad-secret", username_for(OFFICE, "display-1"): "display-secret"}


# --- pure ----------------------------------------------------------------------------------------

def test_password_hash_is_mosquittos_pbkdf2_format_and_verifies() -> None:
    hashed = hash_password("s3cret", salt=b"\x00" * 12)
    assert hashed.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    assert verify_password("s3cret", hashed)
    assert not verify_password("S3cret", hashed)
    assert hash_password("s3cret") != hash_password("s3cret")  # fresh salt each time


def test_password_file_refuses_names_mosquitto_cannot_read() -> None:
    with pytest.raises(BrokerConfigError, match="cannot go into"):
        render_password_file({"a:b": "x"})
    with pytest.raises(BrokerConfigError, match="empty password"):
        render_password_file({"a": ""})
    parsed = parse_password_file(render_password_file({"a": "x", "b": "y"}))
    assert sorted(parsed) == ["a", "b"] and verify_password("y", parsed["b"])


def test_kiosk_may_publish_only_its_own_requests_and_node_topics() -> None:
    writes = node_writes(OFFICE, Node("kiosk-1", "kiosk"))
    assert contract.topic("kiosk_issue", OFFICE, node="kiosk-1") in writes
    assert contract.topic("node_status", OFFICE, node="kiosk-1") in writes
    assert all("/kiosk/kiosk-1/request/" in t or "/node/kiosk-1/" in t for t in writes)
    assert not any("counter" in t or "+" in t or "#" in t for t in writes)


def test_pad_may_command_only_its_own_counter() -> None:
    writes = node_writes(OFFICE, Node("pad-1", "pad", counter="c1"))
    assert contract.topic("counter_command", OFFICE, counter="c1") in writes
    assert not any("/c2/" in t or "kiosk" in t for t in writes)
    reads = node_reads(OFFICE, Node("pad-1", "pad", counter="c1"))
    assert contract.topic("counter_state", OFFICE, counter="c1") in reads


def test_display_publishes_nothing_but_its_own_node_topics_and_reads_every_counter() -> None:
    writes = node_writes(OFFICE, Node("display-1", "display"))
    assert writes and all("/node/display-1/" in t for t in writes)
    assert contract.subscription("counter_state", OFFICE) in node_reads(OFFICE, Node("display-1", "display"))


def test_pad_without_counter_is_refused_with_a_reason() -> None:
    with pytest.raises(BrokerConfigError, match="give the pad its counter"):
        render_acl(OFFICE, [Node("pad-9", "pad")], "server")


def test_every_server_topic_is_read_by_some_role() -> None:
    read = {name for names in READS.values() for name in names}
    # region/ routes go to the regional server over the brokers' bridge, not to a node role.
    server_routes = {r.name for r in contract.ROUTES.values()
                     if r.publisher == "server" and not r.pattern.startswith("region/")}
    assert server_routes <= read, f"nobody reads {server_routes - read}"


def test_generated_conf_sends_small_packets_at_once() -> None:
    """Nagle's algorithm on the broker side alone turns a ~1 ms call into ~40 ms."""
    from cherga.broker_bridge.broker_config import render_mosquitto_conf

    assert "set_tcp_nodelay true" in render_mosquitto_conf(password_file="/p", acl_file="/a").splitlines()


def test_conf_has_tls_listener_with_client_certificates_when_asked() -> None:
    from cherga.broker_bridge.broker_config import TlsFiles

    conf = render_mosquitto_conf(password_file="/p", acl_file="/a", port=None,
                                 tls=TlsFiles("/ca.crt", "/s.crt", "/s.key", require_certificate=True))
    assert "listener 8883" in conf and "listener 1883" not in conf
    assert "require_certificate true" in conf and "allow_anonymous false" in conf


# --- a real broker -------------------------------------------------------------------------------

class Client:
    """A paho client that records what it receives."""

    def __init__(self, broker: Broker, user: str, password: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    props: object) -> None:
        self.reason = reason
        self.connected.set()

    def wait_connected(self) -> bool:
        assert self.connected.wait(WAIT_S), "no CONNACK"
        return self.reason is not None and not self.reason.is_failure

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@contextmanager
def client(broker: Broker, user: str, password: str) -> Iterator[Client]:
    c = Client(broker, user, password)
    try:
        yield c
    finally:
        c.stop()


# Run as root, Mosquitto drops to the `mosquitto` user, which cannot read pytest's private tmp dir.
AS_ROOT = "user root\n" if os.geteuid() == 0 else ""


def _write_files(workdir: Path) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    pw, acl = workdir / "passwd", workdir / "acl"
    pw.write_text(render_password_file(PASSWORDS))
    acl.write_text(render_acl(OFFICE, NODES, "server"))
    return pw, acl


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Broker]:
    pw, acl = _write_files(tmp_path / "mosq")
    with running_broker(tmp_path / "mosq", extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}") as b:
        yield b


@pytest.mark.mosquitto
def test_real_broker_passes_a_kiosk_request_and_drops_a_kiosk_counter_command(acl_broker: Broker) -> None:
    with client(acl_broker, "server", PASSWORDS["server"]) as server, \
            client(acl_broker, username_for(OFFICE, "kiosk-1"), PASSWORDS[username_for(OFFICE, "kiosk-1")]) as kiosk:
        assert server.wait_connected() and kiosk.wait_connected()
        subscribe_and_wait(server.client, f"{contract.ROOT}/{OFFICE}/#")
        forged = contract.topic("counter_command", OFFICE, counter="c1")
        kiosk.client.publish(forged, b'{"forged": true}', qos=1).wait_for_publish(5)
        own = contract.topic("kiosk_issue", OFFICE, node="kiosk-1")
        kiosk.client.publish(own, b'{"ok": true}', qos=1).wait_for_publish(5)
        # Messages from one client arrive in order: once the allowed one is in, the forged one is not coming.
        wait_until(lambda: any(t == own for t, _ in server.received), what="the kiosk's own request")
        assert [t for t, _ in server.received if t == forged] == []


@pytest.mark.mosquitto
def test_real_broker_refuses_a_wrong_password_and_an_unknown_user(acl_broker: Broker) -> None:
    with client(acl_broker, username_for(OFFICE, "kiosk-1"), "not-the-password") as wrong:
        assert not wrong.wait_connected()
    with client(acl_broker, username_for(OFFICE, "ghost"), "kiosk-secret") as ghost:
        assert not ghost.wait_connected()


@pytest.mark.mosquitto
def test_real_broker_with_the_generated_conf_lets_a_pad_command_only_its_counter(tmp_path: Path) -> None:
    workdir = tmp_path / "full"
    pw, acl = _write_files(workdir)
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(render_mosquitto_conf(password_file=str(pw), acl_file=str(acl), port=port, bind="127.0.0.1",
                                          persistence_location=f"{workdir}/", log_dest="stderr") + AS_ROOT)
    broker = Broker(workdir, "127.0.0.1", port, config_file=conf)
    broker.start()
    try:
        pad_user = username_for(OFFICE, "pad-1")
        with client(broker, "server", PASSWORDS["server"]) as server, client(broker, pad_user, PASSWORDS[pad_user]) as pad:
            assert server.wait_connected() and pad.wait_connected()
            subscribe_and_wait(server.client, f"{contract.ROOT}/{OFFICE}/#")
            subscribe_and_wait(pad.client, contract.subscription("counter_state", OFFICE, counter="c1"),
                               contract.subscription("counter_state", OFFICE, counter="c2"))
            other = contract.topic("counter_command", OFFICE, counter="c2")
            own = contract.topic("counter_command", OFFICE, counter="c1")
            pad.client.publish(other, b"{}", qos=1).wait_for_publish(5)
            pad.client.publish(own, b"{}", qos=1).wait_for_publish(5)
            wait_until(lambda: any(t == own for t, _ in server.received), what="the pad's own command")
            assert not any(t == other for t, _ in server.received)
            # The pad sees its own counter's state, not the neighbour's.
            server.client.publish(contract.topic("counter_state", OFFICE, counter="c2"), b"{}", qos=1)
            server.client.publish(contract.topic("counter_state", OFFICE, counter="c1"), b"{}", qos=1)
            wait_until(lambda: any(t.endswith("/c1/state") for t, _ in pad.received), what="the pad's own state")
            assert not any(t.endswith("/c2/state") for t, _ in pad.received)
    finally:
        broker.stop()
