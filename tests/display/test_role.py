"""The display node end to end on a real Mosquitto: retained state, calls, voice, LED boards, restarts."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import CounterState, HallCall, NodeConfig, Payload, TicketInfo
from cherga.display.role import DisplayRole
from cherga.display.voice import RecordingPlayer
from cherga.firmware_host.config import BrokerOptions, HardwareOptions
from cherga.firmware_host.config import NodeConfig as NodeFile
from cherga.firmware_host.ledboard import EmulatedBoard, PtyBoardBus
from cherga.firmware_host.session import NodeSession
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

from .conftest import entry, state

OFFICE = "hall6"
NODE = "display-hall"
pytestmark = pytest.mark.mosquitto


class Server:
    """Plays the bridge's part: publishes what the server would, and hears node alerts."""

    def __init__(self, broker: Broker) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-server")
        self.alerts: list[dict[str, object]] = []
        self.client.on_message = lambda c, u, m: self.alerts.append(json.loads(m.payload))
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(contract.subscription("node_alert", OFFICE), 1)
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, route: str, msg: Payload, **params: str) -> None:
        r = contract.ROUTES[route]
        info = self.client.publish(contract.topic(route, OFFICE, **params), msg.to_bytes(), qos=1, retain=r.retained)
        info.wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def office_config() -> NodeConfig:
    return NodeConfig(node=NODE, role="display", office=OFFICE, office_names={"uk": "ЦНАП", "en": "Centre"},
                      languages=["uk", "en"], timezone="Europe/Kyiv", public_url="http://x",
                      display={"recent_calls": 4, "blink_s": 6, "min_visible_s": 7, "layout": "alternate"},
                      voice={"languages": ["en"], "volume": 0.8})


class Running:
    def __init__(self, broker: Broker, tmp_path: Path, led: str = "VIRTUAL") -> None:
        self.offset = dt.timedelta()
        self.player = RecordingPlayer()
        self.role = DisplayRole(player=self.player, window=False, size=(1280, 720),
                                clock=lambda: dt.datetime.now(dt.UTC) + self.offset)
        hardware = HardwareOptions(serial={"led": led}, led_boards=[  # type: ignore[call-arg]
            {"name": "hall", "address": 10, "kind": "matrix", "lines": 4, "cols": 12},
            {"name": "c3", "address": 3, "kind": "counter", "counter": "c3"},
            {"name": "c4", "address": 4, "kind": "counter", "counter": "c4"},
        ])
        file = NodeFile(node=NODE, role="display", office=OFFICE, data_dir=tmp_path,
                        broker=BrokerOptions(host=broker.host, port=broker.port), hardware=hardware)
        self.session = NodeSession(file, reconnect_delays=(0.1, 0.5))
        self.stop_event = threading.Event()
        self.session.start()
        self.role.start(self.session, file)
        assert self.role.boards is not None
        self.role.boards.probe_s = 0.3
        self.thread = threading.Thread(target=self.role.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def labels(self) -> list[str]:
        pic = self.role.picture
        return [r.label for r in pic.rows] if pic else []

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.role.stop()
        self.session.close()


@pytest.fixture
def running(fresh_mosquitto: Broker, tmp_path: Path) -> Iterator[tuple[Running, Server]]:
    server = Server(fresh_mosquitto)
    server.publish("node_config", office_config(), node=NODE)
    now = dt.datetime.now(dt.UTC)
    server.publish("hall_state", state(entry("A-001", "1"), entry("A-002", "2"), office=OFFICE)
                   .model_copy(update={"updated_at": now}))
    r = Running(fresh_mosquitto, tmp_path)
    yield r, server
    r.stop()
    server.stop()


def hall_call(label: str, counter: str) -> HallCall:
    prefix, _, number = label.partition("-")
    return HallCall(call_id=f"call-{label}", ticket_id=f"t-{label}", label=label, prefix=prefix, number=int(number),
                    counter=f"c{counter}", counter_number=counter, service="passport", at=dt.datetime.now(dt.UTC))


def test_the_display_draws_the_retained_hall_within_a_second_then_shows_speaks_and_lights_a_new_call(
        running: tuple[Running, Server]) -> None:
    r, server = running
    started = time.monotonic()
    wait_until(lambda: r.labels() == ["A-001", "A-002"])
    assert time.monotonic() - started < 1.5  # connect + retained delivery + first frame
    assert not any(row.blinking for row in r.role.picture.rows)  # type: ignore[union-attr]
    assert r.player.played == []  # old calls are not announced again after a start

    server.publish("hall_call", hall_call("B-017", "3"))
    wait_until(lambda: r.labels()[:1] == ["B-017"])
    assert r.role.picture.rows[0].blinking  # type: ignore[union-attr]
    wait_until(lambda: [s.label for s in r.role.spoken] == ["B-017"])
    assert r.role.spoken[0].composed is not None and r.role.spoken[0].composed.seconds > 1.0
    bus = r.role.virtual_bus
    wait_until(lambda: bus.board(10).shown[:1] == ["B-017      3"])
    assert r.role.health()["connected"] is True and r.role.latencies_ms


def test_counter_states_light_the_counter_top_boards_and_a_dead_board_raises_an_alert(
        running: tuple[Running, Server]) -> None:
    r, server = running
    bus = r.role.virtual_bus
    assert r.session.wait_connected(5)
    now = dt.datetime.now(dt.UTC)
    ticket = TicketInfo(ticket_id="t1", label="C-005", prefix="C", number=5, service="residence", purpose="consult",
                        status="called", issued_at=now)
    bus.set_unresponsive(4)
    server.publish("counter_state", CounterState(office=OFFICE, counter="c3", number="3", status="calling",
                                                 ticket=ticket, updated_at=now), counter="c3")
    server.publish("counter_state", CounterState(office=OFFICE, counter="c4", number="4", status="serving",
                                                 ticket=ticket.model_copy(update={"label": "D-001"}),
                                                 updated_at=now), counter="c4")
    wait_until(lambda: bus.shown_text(3) == "C-005")
    assert bus.board(3).blink is True  # calling blinks; serving is steady
    wait_until(lambda: any(a.get("kind") == "led_board_silent" and a.get("active") for a in server.alerts))
    assert r.role.health()["board_c4_ok"] is False and r.role.health()["board_c3_ok"] is True
    bus.set_unresponsive(4, False)
    wait_until(lambda: bus.shown_text(4) == "D-001")
    wait_until(lambda: any(a.get("kind") == "led_board_silent" and a.get("active") is False
                           for a in server.alerts))


def test_after_a_broker_restart_the_picture_is_rebuilt_from_the_retained_state(
        running: tuple[Running, Server], fresh_mosquitto: Broker) -> None:
    r, server = running
    wait_until(lambda: r.labels() == ["A-001", "A-002"])
    fresh_mosquitto.stop()
    wait_until(lambda: r.role.health()["connected"] is False)
    r.offset += dt.timedelta(seconds=5)  # the broker has been gone a while
    wait_until(lambda: r.role.picture is not None and r.role.picture.offline)
    assert r.labels() == ["A-001", "A-002"]  # the last picture stays, marked

    fresh_mosquitto.start()
    # meanwhile the server moved on: the day's calls changed while the display was away
    wait_until(lambda: server.client.is_connected())
    later = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    server.publish("hall_state", state(entry("K-044", "9", call_id="k44"), entry("A-002", "2"), office=OFFICE, seq=9)
                   .model_copy(update={"updated_at": later, "calls": [
                       entry("K-044", "9", call_id="k44").model_copy(update={"called_at": later}),
                       entry("A-002", "2")]}))
    wait_until(lambda: r.labels() == ["K-044", "A-002"])
    assert r.role.picture is not None and not r.role.picture.offline
    assert r.player.played == []  # a call older than the outage is placed, not announced


def test_a_restarted_display_lights_the_hall_led_board_with_the_retained_calls_too(
        fresh_mosquitto: Broker, tmp_path: Path) -> None:
    server = Server(fresh_mosquitto)
    server.publish("node_config", office_config(), node=NODE)
    server.publish("hall_state", state(entry("A-001", "1"), entry("A-002", "2"), office=OFFICE)
                   .model_copy(update={"updated_at": dt.datetime.now(dt.UTC)}))
    # The boards on a real serial line (a pseudo-terminal), blank as after a power cut with the display.
    bus = PtyBoardBus([EmulatedBoard(10, "matrix", lines=4, cols=12), EmulatedBoard(3), EmulatedBoard(4)])
    r = Running(fresh_mosquitto, tmp_path, led=bus.port_name)
    try:
        wait_until(lambda: r.labels() == ["A-001", "A-002"])
        # the TV shows the retained calls; the hall board must show the same, not stay blank until a call
        wait_until(lambda: bus.board(10).shown[:2] == ["A-001      1", "A-002      2"],
                   what=lambda: f"hall LED board shows {bus.board(10).shown}")
        assert r.player.played == []  # still silent: old calls are not announced again

        # later the server drops a call without a new one (a long outage rebuilt silently): the board follows
        later = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        server.publish("hall_state", state(entry("A-002", "2"), office=OFFICE, seq=2)
                       .model_copy(update={"updated_at": later}))
        wait_until(lambda: r.labels() == ["A-002"])
        wait_until(lambda: bus.board(10).shown == ["A-002      2"],
                   what=lambda: f"hall LED board shows {bus.board(10).shown}")
    finally:
        r.stop()
        server.stop()
        bus.stop()


def test_a_display_without_espeak_ng_and_sox_alerts_the_hall_manager_and_still_shows_calls(
        fresh_mosquitto: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.mqtt import subscribe_and_wait

    server = Server(fresh_mosquitto)
    wait_until(server.client.is_connected)
    subscribe_and_wait(server.client, contract.subscription("node_alert", OFFICE))
    server.publish("node_config", office_config(), node=NODE)
    server.publish("hall_state", state(entry("A-001", "1"), office=OFFICE)
                   .model_copy(update={"updated_at": dt.datetime.now(dt.UTC)}))
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # a Pi image without Debian's espeak-ng and sox
    r = Running(fresh_mosquitto, tmp_path)
    try:
        wait_until(lambda: r.labels() == ["A-001"])
        alert = wait_until(lambda: next((a for a in server.alerts if a.get("kind") == "voice_missing"), None),
                           what=lambda: f"a voice alert among {server.alerts}")
        assert alert["active"] is True and alert["node"] == NODE
        assert "espeak-ng" in str(alert["message"]) and "sox" in str(alert["message"])
        assert r.role.health()["voice_ok"] is False
        server.publish("hall_call", hall_call("B-017", "3"))
        wait_until(lambda: r.labels()[:1] == ["B-017"])  # the call is still shown
    finally:
        r.stop()
        server.stop()
