"""The pad in a whole office: real Mosquitto, the real bridge, OfficeService on SQLite, the panel.

What staff would notice: a press on "next" calls the right visitor and the hall display's call
event follows; the pad and the panel at one counter show the same thing; two counters pressing
at once never get the same visitor; with the broker gone "next" calls nobody, then or later.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterAction, CounterCommand, HallCall
from cherga.counter_pad.app import MemoryBoard
from cherga.counter_pad.hardware import PadPins
from cherga.counter_pad.machine import LedMode
from cherga.counter_pad.role import PadRole
from cherga.firmware_host.config import BrokerOptions, NodeConfig
from cherga.firmware_host.session import NodeSession
from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store, sqlite_url
from tests.support.mosquitto import Broker
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
REPO = Path(__file__).resolve().parents[2]
PINS = PadPins()
PIN = "4711"
PASSWORD = "correct-horse-1"
_office_seq = itertools.count()


def tap(factory: MockFactory, pin: int | str, hold: float = 0.08) -> None:
    p = factory.pin(pin)
    p.drive_low()
    time.sleep(hold)
    p.drive_high()


class HallWatch:
    """What a hall display would hear: every hall call event of the office."""

    def __init__(self, broker: Broker, office: str) -> None:
        import paho.mqtt.client as mqtt

        self.calls: list[HallCall] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"hall-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, m: self.calls.append(
            contract.decode(m.topic, bytes(m.payload)).message)  # type: ignore[arg-type]
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        subscribe_and_wait(self.client, contract.topic("hall_call", office))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Office:
    """One office: site config, SQLite store, the server app (panel included) and its bridge."""

    def __init__(self, broker: Broker, tmp: Path) -> None:
        data = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
        self.id = f"padoffice{next(_office_seq)}x{uuid.uuid4().hex[:6]}"
        data["office"]["id"] = self.id
        self.site = SiteConfig.model_validate(data)
        self.store = Store(sqlite_url(tmp / "office.sqlite"))
        auth.create_account(self.store, username="olena", role="operator", pin=PIN, password=PASSWORD,
                            display_name="Olena K.")
        auth.create_account(self.store, username="taras", role="operator", pin="5822", password=PASSWORD)
        t0, start = time.monotonic(), dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Kyiv
        self.app = create_app(self.site, "sqlite://", store=self.store, sweep_interval=None,
                              clock=lambda: start + dt.timedelta(seconds=time.monotonic() - t0))
        self.service: OfficeService = self.app.state.service
        self.bridge: Bridge = start_bridge(self.service, broker.host, broker.port, config=self.site)
        self.hall = HallWatch(broker, self.id)

    def issue(self, service: str = "passport") -> str:
        return str(self.service.issue_ticket(command_id=uuid.uuid4().hex, source="k1", service=service).label)

    def sign_in(self, counter: str, operator: str = "olena") -> None:
        self.service.counter_action(command_id=uuid.uuid4().hex, counter=counter, action=CounterAction.SIGN_IN,
                                    source="test", operator=operator, authenticated=True)

    def close(self) -> None:
        self.hall.close()
        self.bridge.stop()
        self.store.close()


class Pad:
    def __init__(self, broker: Broker, office: str, counter: str, tmp: Path) -> None:
        self.factory = MockFactory()
        self.board = MemoryBoard()
        cfg = NodeConfig(node=f"pad-{counter}", role="pad", office=office, counter=counter,
                         broker=BrokerOptions(host=broker.host, port=broker.port, keepalive_s=5),
                         data_dir=tmp / f"pad-{counter}")
        self.session = NodeSession(cfg, reconnect_delays=(0.1, 0.5))
        self.role = PadRole(pin_factory=self.factory, board=self.board)
        self.session.start()
        self.role.start(self.session, cfg)
        wait_until(lambda: self.app.machine.link_up and self.app.machine.state is not None, what="pad online")

    @property
    def app(self) -> Any:
        assert self.role.app is not None
        return self.role.app

    def next(self) -> None:
        tap(self.factory, PINS.buttons["next"])

    def wait_signed_in(self) -> None:
        wait_until(lambda: self.app.machine.state.operator is not None, what="pad sees the operator")

    def wait_idle(self) -> None:
        wait_until(lambda: not self.app.machine.pending, what="reply")

    def led(self, name: str) -> LedMode:
        assert self.role.hardware is not None
        return self.role.hardware.led_modes()[name]

    def close(self) -> None:
        self.role.stop()
        self.session.close()
        self.factory.reset()


@pytest.fixture
def office(mosquitto: Broker, tmp_path: Path) -> Iterator[Office]:
    o = Office(mosquitto, tmp_path)
    yield o
    o.close()


@pytest.fixture
def pads(mosquitto: Broker, office: Office, tmp_path: Path) -> Iterator[Callable[[str], Pad]]:
    made: list[Pad] = []

    def make(counter: str) -> Pad:
        pad = Pad(mosquitto, office.id, counter, tmp_path)
        made.append(pad)
        return pad

    yield make
    for p in made:
        p.close()


def test_next_on_the_pad_calls_the_right_ticket_and_the_hall_hears_it(
        office: Office, pads: Callable[[str], Pad]) -> None:
    pad = pads("c1")
    office.sign_in("c1")
    pad.wait_signed_in()
    first, _second = office.issue(), office.issue()
    office.issue("birth")  # counter 1 does not serve births
    pad.next()
    wait_until(lambda: pad.board.text == first, what="board shows the call")
    state = office.service.counter_state("c1")
    assert state.status == "calling" and state.ticket is not None and state.ticket.label == first
    wait_until(lambda: any(c.label == first and c.counter == "c1" for c in office.hall.calls), what="hall call")
    assert pad.led("calling") is LedMode.ON


def test_the_operator_signs_in_with_a_pin_on_the_keypad(office: Office, pads: Callable[[str], Pad]) -> None:
    pad = pads("c1")
    label = office.issue()
    pad.next()
    wait_until(lambda: pad.app.machine.message == "not_signed_in", what="refusal")
    assert office.service.counter_state("c1").ticket is None  # nobody signed in: nobody called
    for k in PIN + "#":
        pad.app.key(k)
    wait_until(lambda: office.service.counter_state("c1").operator == "olena", what="signed in")
    pad.wait_idle()
    pad.next()
    wait_until(lambda: pad.board.text == label, what="call after sign-in")


def test_a_wrong_pin_signs_nobody_in(office: Office, pads: Callable[[str], Pad]) -> None:
    pad = pads("c1")
    for k in "0000#":
        pad.app.key(k)
    wait_until(lambda: pad.app.machine.message == "bad_pin", what="refusal")
    assert office.service.counter_state("c1").operator is None


def test_pad_and_panel_at_one_counter_show_the_same_visitor(office: Office, pads: Callable[[str], Pad]) -> None:
    pad = pads("c1")
    a, b = office.issue(), office.issue()
    with TestClient(office.app) as panel:
        r = panel.post("/panel/signin", data={"username": "olena", "password": PASSWORD, "counter": "c1",
                                              "lang": "en"}, follow_redirects=False)
        assert r.status_code == 303
        wait_until(lambda: pad.app.machine.state.operator == "olena", what="pad sees the panel's sign-in")
        pad.next()
        wait_until(lambda: pad.board.text == a, what="pad call")
        assert a in panel.get("/panel/counter/c1/live").text
        # The operator finishes on the panel and calls the next one there: the pad follows.
        for action in ("finish", "next"):
            panel.post("/panel/counter/c1/action", data={"command_id": uuid.uuid4().hex, "action": action},
                       headers={"X-Panel-Fragment": "1"})
        wait_until(lambda: pad.board.text == b, what="pad follows the panel")
        assert pad.app.machine.state.rateable_ticket is not None


def test_two_counters_pressing_at_once_never_call_the_same_ticket(
        office: Office, pads: Callable[[str], Pad]) -> None:
    p1, p2 = pads("c1"), pads("c2")
    office.sign_in("c1", "olena")
    office.sign_in("c2", "taras")
    issued = [office.issue() for _ in range(12)]
    p1.wait_signed_in()
    p2.wait_signed_in()
    called: dict[str, list[str]] = {"c1": [], "c2": []}
    for _ in range(6):
        go = threading.Barrier(2)

        def press(pad: Pad, go: threading.Barrier) -> None:
            go.wait()
            pad.next()

        threads = [threading.Thread(target=press, args=(p, go)) for p in (p1, p2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for counter, pad in (("c1", p1), ("c2", p2)):

            def someone_new(pad: Pad = pad) -> bool:
                return not pad.app.machine.pending and pad.board.text not in ["", *called["c1"], *called["c2"]]

            wait_until(someone_new, what=f"{counter} called someone new")
            called[counter].append(pad.board.text)
    everyone = called["c1"] + called["c2"]
    assert len(everyone) == len(set(everyone)) == 12
    assert sorted(everyone) == sorted(issued)


def test_the_citizen_rates_once_and_a_second_or_unknown_rating_is_refused(
        office: Office, pads: Callable[[str], Pad]) -> None:
    pad = pads("c1")
    office.sign_in("c1")
    pad.wait_signed_in()
    office.issue()
    office.issue()
    pad.next()
    wait_until(lambda: pad.board.text != "", what="first call")
    pad.wait_idle()
    pad.next()  # finishes the first visitor, calls the second
    wait_until(lambda: pad.app.machine.state.rateable_ticket is not None, what="rateable")
    rated = pad.app.machine.state.rateable_ticket
    tap(pad.factory, PINS.ratings[0])
    wait_until(lambda: pad.session.outbox_size == 0 and office.service.counter_state("c1").rateable_ticket is None,
             what="rating stored")
    replies: list[Any] = []
    pad.session.on_outbox_reply(replies.append)
    for ticket_id in (rated, "no-such-ticket"):
        cmd = pad.session.command(CounterCommand, action="rate", ticket_id=ticket_id, score=2)
        pad.session.send_later("counter_command", cmd)
    wait_until(lambda: len(replies) == 2, what="two refusals")
    assert sorted(r.error.key for r in replies) == ["already_rated", "unknown_ticket"]


def test_next_without_a_broker_calls_nobody_then_or_when_it_returns(
        fresh_mosquitto: Broker, tmp_path: Path) -> None:
    office = Office(fresh_mosquitto, tmp_path)
    pad = Pad(fresh_mosquitto, office.id, "c1", tmp_path)
    try:
        office.sign_in("c1")
        office.issue()
        wait_until(lambda: pad.app.machine.state.operator == "olena", what="pad sees the sign-in")
        fresh_mosquitto.stop()
        wait_until(lambda: not pad.session.connected, what="link lost")
        pad.next()
        wait_until(lambda: pad.led("offline") is LedMode.BLINK, what="offline blink")
        fresh_mosquitto.start()
        wait_until(lambda: pad.session.connected and office.bridge.connected, timeout=15, what="link back")
        time.sleep(0.5)
        assert office.service.counter_state("c1").ticket is None
        assert office.hall.calls == []
        pad.next()  # a fresh press after the return works as usual
        wait_until(lambda: pad.board.text != "", what="call after the return")
    finally:
        pad.close()
        office.close()
