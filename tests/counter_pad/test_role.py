"""The pad role on the real node runtime and a real Mosquitto, against a stand-in server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from cherga.counter_pad.app import MemoryBoard
from cherga.counter_pad.hardware import PadPins
from cherga.counter_pad.machine import LedMode
from cherga.counter_pad.role import PadRole
from cherga.firmware_host.config import BrokerOptions, NodeConfig
from cherga.firmware_host.session import NodeSession
from tests.counter_pad.fakeserver import FakeServer
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
PINS = PadPins()


def tap(factory: MockFactory, pin: int | str, hold: float = 0.08) -> None:
    p = factory.pin(pin)
    p.drive_low()
    time.sleep(hold)
    p.drive_high()


class Pad:
    def __init__(self, broker: Broker, office: str, tmp: Path) -> None:
        self.factory = MockFactory()
        self.board = MemoryBoard()
        cfg = NodeConfig(node="pad-c1", role="pad", office=office, counter="c1",
                         broker=BrokerOptions(host=broker.host, port=broker.port, keepalive_s=5), data_dir=tmp)
        self.session = NodeSession(cfg, reconnect_delays=(0.1, 0.5))
        self.role = PadRole(pin_factory=self.factory, board=self.board)
        self.session.start()
        self.role.start(self.session, cfg)

    def led(self, name: str) -> LedMode:
        assert self.role.hardware is not None
        return self.role.hardware.led_modes()[name]

    def close(self) -> None:
        self.role.stop()
        self.session.close()
        self.factory.reset()


@pytest.fixture
def office(request: pytest.FixtureRequest) -> str:
    return "pad" + str(abs(hash(request.node.name)) % 10**8)


@pytest.fixture
def pad_and_server(fresh_mosquitto: Broker, office: str, tmp_path: Path) -> Iterator[tuple[Pad, FakeServer]]:
    server = FakeServer(fresh_mosquitto.host, fresh_mosquitto.port, office)
    pad = Pad(fresh_mosquitto, office, tmp_path)
    wait_until(lambda: pad.role.app is not None and pad.role.app.machine.link_up and pad.role.app.machine.state)
    yield pad, server
    pad.close()
    server.close()


def test_pressing_next_calls_the_first_ticket_and_the_board_shows_it(pad_and_server: tuple[Pad, FakeServer]) -> None:
    pad, server = pad_and_server
    tap(pad.factory, PINS.buttons["next"])
    wait_until(lambda: pad.board.text == "A-001")
    assert [c.action for c in server.applied] == ["next"]
    assert pad.led("calling") is LedMode.ON


def test_next_while_the_broker_is_down_calls_nobody_even_after_it_returns(
        pad_and_server: tuple[Pad, FakeServer], fresh_mosquitto: Broker) -> None:
    pad, server = pad_and_server
    fresh_mosquitto.stop()
    wait_until(lambda: not pad.session.connected)
    tap(pad.factory, PINS.buttons["next"])
    wait_until(lambda: pad.led("offline") is LedMode.BLINK)
    fresh_mosquitto.start()
    wait_until(lambda: pad.session.connected, timeout=10)
    time.sleep(0.5)
    assert server.applied == []
    assert pad.board.shown == ["", "Офлайн"] or pad.board.shown == ["", "Офлайн", ""]  # the refusal's word, no number
    wait_until(lambda: pad.board.text == "")  # and blank again once the refused LED stops blinking


def test_a_rating_made_while_offline_arrives_once_the_link_returns(
        pad_and_server: tuple[Pad, FakeServer], fresh_mosquitto: Broker) -> None:
    pad, server = pad_and_server
    tap(pad.factory, PINS.buttons["next"])
    wait_until(lambda: pad.board.text == "A-001")
    tap(pad.factory, PINS.buttons["next"])
    wait_until(lambda: pad.board.text == "A-002")  # A-001 finished: the citizen may rate it
    fresh_mosquitto.stop()
    wait_until(lambda: not pad.session.connected)
    tap(pad.factory, PINS.ratings[1])
    wait_until(lambda: pad.session.outbox_size == 1)
    fresh_mosquitto.start()
    wait_until(lambda: any(c.action == "rate" for c in server.applied), timeout=10)
    rate = next(c for c in server.applied if c.action == "rate")
    assert (rate.ticket_id, rate.score) == ("A-001", 2)
    wait_until(lambda: pad.session.outbox_size == 0)


def test_the_pad_goes_offline_when_the_server_announces_it_is_gone(pad_and_server: tuple[Pad, FakeServer]) -> None:
    pad, server = pad_and_server
    server.client.publish(f"cherga/v1/{server.office}/server/status", b'{"v":1,"state":"offline"}', 1, True)
    wait_until(lambda: pad.led("offline") is LedMode.ON)
    tap(pad.factory, PINS.buttons["next"])
    time.sleep(0.2)
    assert server.applied == []


def test_the_launcher_finds_the_pad_role_and_builds_it_without_arguments() -> None:
    from cherga.firmware_host.role import NodeRole, load_role

    role = load_role("pad")()
    assert isinstance(role, PadRole) and isinstance(role, NodeRole)


def test_the_hil_harness_presses_buttons_and_reads_the_pad_through_test_verbs(
        fresh_mosquitto: Broker, office: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cherga.firmware_host.testverbs import ENV, TestVerbClient

    sock = tmp_path / "pad.sock"
    monkeypatch.setenv(ENV, str(sock))
    server = FakeServer(fresh_mosquitto.host, fresh_mosquitto.port, office)
    pad = Pad(fresh_mosquitto, office, tmp_path)
    try:
        wait_until(lambda: pad.role.app is not None and pad.role.app.machine.state is not None)
        client = TestVerbClient(sock)
        client.call("press", button="next")
        wait_until(lambda: client.call("view")["number"] == "A-001")
        assert client.call("view")["leds"]["calling"] == "on"
        assert client.call("health")["status"] == "calling"
    finally:
        pad.close()
        server.close()


def test_a_refused_press_shows_a_word_in_the_language_the_office_config_names_first(
        pad_and_server: tuple[Pad, FakeServer], office: str) -> None:
    from cherga.broker_bridge import contract

    pad, server = pad_and_server
    config = contract.NodeConfig(node="pad-c1", role="pad", office=office, office_names={"kk": "ХҚКО", "en": "PSC"},
                                 languages=["kk", "ru", "en"], timezone="Asia/Almaty", public_url="http://x")
    server.client.publish(contract.topic("node_config", office, node="pad-c1"), config.to_bytes(), 1, True)
    assert pad.role.app is not None
    wait_until(lambda: pad.role.app is not None and pad.role.app.machine.language == "kk")
    for key in "12#":  # a PIN too short: refused on the pad itself
        pad.role.app.key(key)
    wait_until(lambda: pad.board.text == "Қате")
    assert pad.role.health()["last_refusal"] == "pin_too_short"  # the key stays in the health report
    assert all("_" not in shown for shown in pad.board.shown)
