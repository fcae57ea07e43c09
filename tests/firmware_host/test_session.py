"""NodeSession on a real Mosquitto: availability, requests, reconnects and the outbox."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import CounterCommand, HallState, IssueTicket, OfflineTicket, Reply
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession, Offline, RequestTimeout
from tests.bridge.conftest import Watcher
from tests.hil.proxy import CuttableProxy
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto


def node_config(port: int, *, node: str = "k1", role: str = "kiosk", office: str | None = None,
                counter: str | None = None, data_dir: Path | None = None, **extra: Any) -> NodeConfig:
    return NodeConfig.model_validate({
        "node": node, "role": role, "office": office or f"o{uuid.uuid4().hex[:8]}", "counter": counter,
        "broker": {"host": "127.0.0.1", "port": port, "keepalive_s": 5},
        "data_dir": str(data_dir or Path("/tmp")), **extra})


def session(cfg: NodeConfig, outbox: Outbox | None = None) -> NodeSession:
    return NodeSession(cfg, outbox=outbox if outbox is not None else Outbox(":memory:"), version="9.9",
                       reconnect_delays=(0.1, 0.5))


class Responder:
    """A stand-in server: answers every command on its route's response topic with ``status``."""

    def __init__(self, broker: Broker, office: str, status: str = "ok") -> None:
        self.received: list[dict[str, Any]] = []
        self.watcher = Watcher(broker.host, broker.port, f"cherga/v1/{office}/kiosk/+/request/#",
                               f"cherga/v1/{office}/counter/+/command")
        self.office, self.status = office, status
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        done = 0
        while not self._stop.is_set():
            with self.watcher._lock:
                fresh = self.watcher.seen[done:]
            for topic_name, payload, _ in fresh:
                done += 1
                data = json.loads(payload)
                self.received.append(data)
                route, _, params = contract.match(topic_name)
                response = "kiosk_response" if route.name.startswith("kiosk") else "counter_response"
                reply = Reply(id=data["id"], status=self.status)  # type: ignore[arg-type]
                self.watcher.client.publish(contract.topic(response, self.office, **params), reply.to_bytes(), qos=1)
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.watcher.close()


def test_a_node_announces_itself_online_with_role_version_and_address(mosquitto: Broker) -> None:
    cfg = node_config(mosquitto.port)
    s = session(cfg)
    s.start()
    try:
        assert s.wait_connected(5)
        w = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_status", cfg.office, node="k1"))
        status = w.wait_for(lambda t, d: d["state"] == "online")
        assert status["role"] == "kiosk" and status["version"] == "9.9" and status["address"] == "127.0.0.1"
        w.close()
        # Whoever subscribes later (a server that restarts) still learns the node is online.
        late = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_status", cfg.office, node="k1"))
        late.wait_for(lambda t, d: d["state"] == "online")
        assert any(r for _, _, r in late.seen), "the birth message is retained"
        late.close()
    finally:
        s.stop()


def test_a_node_that_loses_the_broker_shows_offline_and_comes_back_with_retained_state_rebuilt(
        mosquitto: Broker) -> None:
    cfg0 = node_config(mosquitto.port, node="d1", role="display")
    office = cfg0.office
    proxy = CuttableProxy(("127.0.0.1", mosquitto.port)).start()
    cfg = node_config(proxy.port, node="d1", role="display", office=office)
    server = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_status", office, node="d1"))
    hall = HallState(office=office, office_names={"uk": "Тест"}, languages=["uk"], calls=[], updated_at=dt.datetime.now(dt.UTC),
                     seq=7)
    server.publish(contract.topic("hall_state", office), hall.to_bytes())
    server.client.publish(contract.topic("hall_state", office), hall.to_bytes(), qos=1, retain=True).wait_for_publish(5)
    pictures: list[HallState] = []
    links: list[bool] = []
    s = session(cfg)
    s.subscribe("hall_state", pictures.append)
    s.on_connection(links.append)
    s.start()
    try:
        assert s.wait_connected(5)
        server.wait_for(lambda t, d: d["state"] == "online")
        wait_until(lambda: len(pictures) >= 1)
        proxy.cut()  # the node's link dies without a DISCONNECT: the broker fires its last will
        server.wait_for(lambda t, d: d["state"] == "offline", timeout=15)
        wait_until(lambda: links and links[-1] is False)
        pictures_before = len(pictures)
        proxy.restore()
        assert server.wait_count(lambda t, d: d["state"] == "online", 2, timeout=15)
        wait_until(lambda: len(pictures) > pictures_before)  # resubscribed: the retained picture again
        assert pictures[-1].seq == 7 and links[-1] is True
    finally:
        s.stop()
        proxy.close()
        server.close()


def test_a_clean_stop_publishes_offline(mosquitto: Broker) -> None:
    cfg = node_config(mosquitto.port)
    w = Watcher(mosquitto.host, mosquitto.port, contract.topic("node_status", cfg.office, node="k1"))
    s = session(cfg)
    s.start()
    assert s.wait_connected(5)
    w.wait_for(lambda t, d: d["state"] == "online")
    s.stop()
    assert w.wait_for(lambda t, d: d["state"] == "offline")
    w.close()


def test_a_request_while_offline_is_refused_at_once_and_nothing_is_sent(tmp_path: Path) -> None:
    cfg = node_config(1, node="pad-c1", role="pad", counter="c1")  # nothing listens on port 1
    s = session(cfg)
    s.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(Offline):
            s.request("counter_command", s.command(CounterCommand, action="next"))
        assert time.monotonic() - t0 < 0.5
    finally:
        s.stop()


def test_a_request_nobody_answers_times_out(mosquitto: Broker) -> None:
    s = session(node_config(mosquitto.port))
    s.start()
    try:
        assert s.wait_connected(5)
        with pytest.raises(RequestTimeout):
            s.request("kiosk_issue", s.command(IssueTicket, service="passport"), timeout=0.3)
    finally:
        s.stop()


def test_a_request_gets_the_reply_addressed_to_its_id(mosquitto: Broker) -> None:
    cfg = node_config(mosquitto.port)
    responder = Responder(mosquitto, cfg.office)
    s = session(cfg)
    s.start()
    try:
        assert s.wait_connected(5)
        cmd = s.command(IssueTicket, service="passport")
        reply = s.request("kiosk_issue", cmd, timeout=3)
        assert reply.id == cmd.id and reply.status == "ok"
        assert responder.received[-1]["node"] == "k1"
    finally:
        s.stop()
        responder.close()


def test_a_next_cannot_wait_in_the_outbox() -> None:
    s = session(node_config(1, node="pad-c1", role="pad", counter="c1"))
    with pytest.raises(ValueError, match="real-time"):
        s.send_later("counter_command", s.command(CounterCommand, action="next"))


def test_the_outbox_survives_a_restart_and_resends_with_the_original_id(mosquitto: Broker, tmp_path: Path) -> None:
    office = f"o{uuid.uuid4().hex[:8]}"
    outbox_file = tmp_path / "outbox.sqlite"
    offline = node_config(1, office=office, data_dir=tmp_path)  # the broker is unreachable
    s1 = session(offline, Outbox(outbox_file))
    s1.start()
    ticket = s1.command(OfflineTicket, service="passport", number=901, issued_at=dt.datetime.now(dt.UTC))
    s1.send_later("kiosk_offline", ticket)
    assert s1.outbox_size == 1
    s1.close()  # power cut / reboot

    responder = Responder(mosquitto, office)
    answers: list[Reply] = []
    s2 = session(node_config(mosquitto.port, office=office, data_dir=tmp_path), Outbox(outbox_file))
    s2.on_outbox_reply(answers.append)
    s2.start()
    try:
        assert s2.wait_connected(5)
        wait_until(lambda: bool(answers))
        assert [m["id"] for m in responder.received] == [ticket.id], "resent once, with its original id"
        assert responder.received[0]["number"] == 901
        assert answers[0].id == ticket.id
        assert s2.outbox_size == 0, "an answered command leaves the outbox"
    finally:
        s2.close()
        responder.close()


def test_an_expired_outbox_entry_is_dropped_not_sent(mosquitto: Broker, tmp_path: Path) -> None:
    now = [1_000_000.0]
    office = f"o{uuid.uuid4().hex[:8]}"
    box = Outbox(tmp_path / "outbox.sqlite", clock=lambda: now[0])
    s = session(node_config(1, office=office, node="pad-c1", role="pad", counter="c1"), box)
    s.send_later("counter_command", s.command(CounterCommand, action="rate", score=1), ttl_s=60)
    now[0] += 61
    responder = Responder(mosquitto, office)
    s2 = session(node_config(mosquitto.port, office=office, node="pad-c1", role="pad", counter="c1"), box)
    s2.start()
    try:
        assert s2.wait_connected(5)
        time.sleep(0.3)
        assert responder.received == [] and len(box) == 0
    finally:
        s2.stop()
        responder.close()
