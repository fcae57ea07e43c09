"""The counter-top number board through the LED board driver, on the emulated serial bus."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cherga.broker_bridge.contract import CounterCommand
from cherga.counter_pad.app import PadApp
from cherga.counter_pad.board import LedNumberBoard
from cherga.counter_pad.debounce import ButtonEvent
from cherga.counter_pad.machine import PadButton, PadMachine
from cherga.firmware_host.ledboard import BoardHealth, EmulatedBoard, VirtualBoardBus
from tests.counter_pad.helpers import T0, state
from tests.support.wait import wait_until


@pytest.fixture
def bus() -> VirtualBoardBus:
    return VirtualBoardBus([EmulatedBoard(1, "number", cols=8)])


@pytest.fixture
def health() -> list[BoardHealth]:
    return []


@pytest.fixture
def board(bus: VirtualBoardBus, health: list[BoardHealth]) -> Iterator[LedNumberBoard]:
    b = LedNumberBoard(bus, 1, on_health=health.append, probe_s=0.3)
    yield b
    b.close()


def make_app(board: LedNumberBoard, sent: list[CounterCommand]) -> PadApp:
    def send_now(c: CounterCommand) -> bool:
        sent.append(c)
        return True

    machine = PadMachine(node="pad-c1", counter="c1", wall=lambda: T0)
    app = PadApp(machine, board=board, send_now=send_now, send_durable=sent.append)
    app.link(True)
    return app


def test_the_board_blinks_the_called_number_then_holds_it_while_serving_then_clears(
        bus: VirtualBoardBus, board: LedNumberBoard) -> None:
    app = make_app(board, [])
    app.server_state(state("calling", label="A-012", seq=2))
    assert board.flush()
    assert bus.shown_text(1) == "A-012" and bus.boards[1].blink
    app.server_state(state("serving", label="A-012", seq=3))
    assert board.flush()
    assert bus.shown_text(1) == "A-012" and not bus.boards[1].blink
    app.server_state(state("idle", seq=4))
    assert board.flush()
    assert bus.shown_text(1) == ""


def test_a_silent_board_does_not_hold_up_the_buttons_and_catches_up_when_back(
        bus: VirtualBoardBus, board: LedNumberBoard, health: list[BoardHealth]) -> None:
    sent: list[CounterCommand] = []
    app = make_app(board, sent)
    app.server_state(state("idle", seq=1))
    bus.set_unresponsive(1)
    app.server_state(state("calling", label="A-013", seq=2))
    started = time.monotonic()
    app.button_event(PadButton.NEXT, ButtonEvent.CLICK)
    assert time.monotonic() - started < 0.05 and [c.action for c in sent] == ["next"]
    # the role turns this into a board_silent alert
    wait_until(lambda: any(not h.ok for h in health), what="the board reported silent")
    bus.set_unresponsive(1, False)
    wait_until(lambda: bus.shown_text(1) == "A-013", what="the board catching up with A-013")
