"""The pad on real gpiozero devices over mock pins: presses (with injected bounce) and LEDs."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from cherga.broker_bridge.contract import CounterAction, CounterCommand
from cherga.counter_pad.app import MemoryBoard, PadApp
from cherga.counter_pad.hardware import PadHardware, PadPins
from cherga.counter_pad.machine import LedMode, PadMachine
from tests.counter_pad.conftest import FakeClock
from tests.counter_pad.helpers import T0, reply, state

PINS = PadPins()


class Sent:
    def __init__(self) -> None:
        self.now: list[CounterCommand] = []
        self.later: list[CounterCommand] = []
        self.link = True

    def send_now(self, c: CounterCommand) -> bool:
        if self.link:
            self.now.append(c)
        return self.link


def make(factory: MockFactory, clock: FakeClock) -> tuple[PadApp, Sent, MemoryBoard]:
    hw = PadHardware(PINS, pin_factory=factory, clock=clock, bounce_s=0.02, long_press_s=1.0)
    sent = Sent()
    board = MemoryBoard()
    machine = PadMachine(node="pad-c1", counter="c1", transfer_service="residence", wall=lambda: T0)
    app = PadApp(machine, hardware=hw, board=board, send_now=sent.send_now, send_durable=sent.later.append,
                 clock=clock)
    app.link(True)
    app.server_state(state("idle"))
    return app, sent, board


def press(app: PadApp, factory: MockFactory, clock: FakeClock, pin: int | str, *, hold: float = 0.15,
          bounces: int = 5) -> None:
    """Press and release with contact chatter on both edges, stepping the pad every 5 ms."""
    p = factory.pin(pin)
    for level_low in (True, False):
        for i in range(bounces):
            (p.drive_low if (i % 2 == 0) == level_low else p.drive_high)()
            clock.advance(0.001)
        (p.drive_low if level_low else p.drive_high)()
        t_end = clock.t + (hold if level_low else 0.05)
        while clock.t < t_end:
            clock.advance(0.005)
            app.step()


def test_a_bouncing_press_on_next_sends_exactly_one_next(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    press(app, mock_factory, clock, PINS.buttons["next"], bounces=9)
    assert [c.action for c in sent.now] == [CounterAction.NEXT]


def test_recall_acts_on_the_press_itself(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    app.server_state(state("calling", label="A-012", seq=2))
    p = mock_factory.pin(PINS.buttons["recall"])
    p.drive_low()
    for _ in range(6):
        clock.advance(0.005)
        app.step()
    assert [c.action for c in sent.now] == [CounterAction.RECALL]  # before the button is let go


def test_holding_next_starts_serving_instead_of_calling(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    app.server_state(state("calling", label="A-012", seq=2))
    press(app, mock_factory, clock, PINS.buttons["next"], hold=1.3)
    assert [c.action for c in sent.now] == [CounterAction.START]


def test_leds_and_board_show_the_called_number(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, board = make(mock_factory, clock)
    assert mock_factory.pin(PINS.leds["idle"]).state and not mock_factory.pin(PINS.leds["calling"]).state
    press(app, mock_factory, clock, PINS.buttons["next"])
    app.reply(reply(sent.now[0].id, counter=state("calling", label="A-012", seq=2)))
    assert mock_factory.pin(PINS.leds["calling"]).state and not mock_factory.pin(PINS.leds["idle"]).state
    assert board.text == "A-012"


def test_next_while_offline_blinks_the_offline_led_and_sends_nothing(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    app.link(False)
    press(app, mock_factory, clock, PINS.buttons["next"])
    assert sent.now == []
    assert app.hardware is not None and app.hardware.led_modes()["offline"] is LedMode.BLINK


def test_a_send_that_fails_is_dropped_and_shown_as_offline(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    sent.link = False  # the broker vanished between the last state and the press
    press(app, mock_factory, clock, PINS.buttons["next"])
    sent.link = True
    app.link(True)
    for _ in range(10):
        clock.advance(0.5)
        app.step()
    assert sent.now == []
    assert app.machine.message == "offline"


def test_a_rating_face_press_goes_to_the_outbox(mock_factory: MockFactory, clock: FakeClock) -> None:
    app, sent, _ = make(mock_factory, clock)
    app.server_state(state("idle", rateable="t12", seq=2))
    press(app, mock_factory, clock, PINS.ratings[0])
    assert [(c.action, c.score) for c in sent.later] == [(CounterAction.RATE, 1)]
    assert sent.now == []
