"""The pad application: buttons → state machine → commands out; server state → LEDs and board.

:class:`PadApp` glues :class:`~counter_pad.machine.PadMachine` to the hardware
(:class:`~counter_pad.hardware.PadHardware`), the counter-top number board and the link to the
server. The link is two callables so this module needs no MQTT: ``send_now`` publishes a
real-time command and returns False when the link is down (the command is then dropped, never
queued), ``send_durable`` hands a rating to the node's persistent outbox.

Everything that reaches the machine goes through one lock: button events come from the pad's
loop, server messages from the MQTT thread.

Which button event triggers what: buttons with a long-press meaning (next: long = start serving;
transfer: long = transfer and come back; pause: long = sign out) act on the click (release),
the others on the press itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from cherga.broker_bridge.contract import CounterCommand, CounterState, Reply
from cherga.counter_pad.debounce import ButtonEvent
from cherga.counter_pad.hardware import PadHardware
from cherga.counter_pad.machine import Outgoing, PadButton, PadMachine, PadView

log = logging.getLogger(__name__)

_ACT_ON_CLICK = {PadButton.NEXT, PadButton.TRANSFER, PadButton.PAUSE}


class NumberBoard(Protocol):
    """The counter-top number board: shows one short text ("A-012") or nothing (""), maybe blinking."""

    def show(self, text: str, blink: bool = False) -> None: ...


class MemoryBoard:
    """A board that remembers what it was told: for tests and pads without a board."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.blink = False

    def show(self, text: str, blink: bool = False) -> None:
        self.blink = blink
        if not self.shown or self.shown[-1] != text:
            self.shown.append(text)

    @property
    def text(self) -> str:
        return self.shown[-1] if self.shown else ""


class PadApp:
    """One counter pad at work.

    :param machine: the pad's state machine.
    :param hardware: buttons and LEDs (``None``: no GPIO, e.g. a pad simulated in a test).
    :param board: the counter-top number board.
    :param send_now: publish a real-time command; False when the link is down.
    :param send_durable: put a command in the outbox (ratings).
    :param clock: monotonic seconds (the same clock the hardware debounces with).
    """

    def __init__(self, machine: PadMachine, *, hardware: PadHardware | None = None,
                 board: NumberBoard | None = None,
                 send_now: Callable[[CounterCommand], bool],
                 send_durable: Callable[[CounterCommand], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.machine = machine
        self.hardware = hardware
        self.board: NumberBoard = board or MemoryBoard()
        self._send_now = send_now
        self._send_durable = send_durable
        self._clock = clock
        self._lock = threading.RLock()
        self._shown: tuple[str, bool] | None = None

    # --- inputs from the hardware loop -----------------------------------------------------------

    def step(self) -> PadView:
        """Read debounced button events, run timers, redraw. The pad's loop calls this every ~10 ms."""
        events = self.hardware.poll() if self.hardware is not None else []
        for name, event in events:
            self.button_event(name, event)
        with self._lock:
            self.machine.tick(self._clock())
        return self.render()

    def button_event(self, name: str, event: ButtonEvent) -> None:
        t = self._clock()
        with self._lock:
            out: list[Outgoing] = []
            if name.startswith("rate"):
                if event is ButtonEvent.PRESS:
                    out = self.machine.rate(int(name[4:]), t)
            else:
                button = PadButton(name)
                if event is ButtonEvent.LONG and button in _ACT_ON_CLICK:
                    out = self.machine.press(button, t, long=True)
                elif (event is ButtonEvent.CLICK and button in _ACT_ON_CLICK) or (
                        event is ButtonEvent.PRESS and button not in _ACT_ON_CLICK):
                    out = self.machine.press(button, t)
            self._dispatch(out, t)

    def key(self, key: str) -> None:
        """A key from the PIN keypad (digits, ``*`` clear, ``#`` enter)."""
        t = self._clock()
        with self._lock:
            self._dispatch(self.machine.key(key, t), t)

    # --- inputs from the link --------------------------------------------------------------------

    def link(self, up: bool) -> None:
        with self._lock:
            self.machine.link(up, self._clock())
        self.render()

    def server_state(self, state: CounterState) -> None:
        with self._lock:
            self.machine.server_state(state)
        self.render()

    def reply(self, reply: Reply) -> None:
        with self._lock:
            self.machine.reply(reply, self._clock())
        self.render()

    def send_failed(self, command_id: str) -> None:
        """The link turned out to be down when the command went out: it was not sent."""
        with self._lock:
            self.machine.send_failed(command_id, self._clock())
        self.render()

    # --- output ----------------------------------------------------------------------------------

    def render(self) -> PadView:
        with self._lock:
            view = self.machine.view(self._clock())
            if self.hardware is not None:
                self.hardware.show(view)
            # A refusal's word while its LED blinks (in the office's language, never the key), else the number.
            shown = (view.text, False) if view.text else (view.number, view.blink)
            if shown != self._shown:
                try:
                    self.board.show(*shown)
                    self._shown = shown
                except Exception:  # a faulty board must not stop the buttons
                    log.exception("counter-top board refused %r", shown[0])
        return view

    def _dispatch(self, out: list[Outgoing], t: float) -> None:
        for o in out:
            if o.durable:
                self._send_durable(o.command)
            elif not self._send_now(o.command):
                # The link fell between the check and the send: dropped, never queued.
                self.machine.send_failed(o.command.id, t)
