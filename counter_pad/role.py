"""The ``pad`` node role: a counter pad on the node runtime (``cherga node`` with ``role: pad``).

:class:`PadRole` implements :class:`firmware_host.role.NodeRole`. On :meth:`PadRole.start` it opens
the GPIO devices (pin factory from the node config, or the ``pin_factory=`` keyword), the
counter-top number board (``board=`` keyword, or the one named in the node config), subscribes
to its counter's retained state and to the server's availability, and runs the pad loop in a
thread (debounce polling every ``loop_s``).

How commands travel:

* real-time commands go through ``session.request`` on a short-lived worker thread, so the loop
  never blocks; ``Offline`` means nothing was sent (the press is refused and blinks offline);
  ``RequestTimeout`` leaves the command to the machine's own timeout. A timed-out command is never
  re-sent with a new id, so a visitor is never called twice.
* ratings go through ``session.send_later`` (the persistent outbox) and may wait for the link.

The link counts as up when the broker is connected and the server has not announced itself
offline (its retained ``server/status``; unknown counts as up, the reply timeout catches the rest).

Node config options (``hardware:`` in the node's YAML)::

    hardware:
      pin_factory: lgpio
      pins: {buttons: {next: 5, ...}, ratings: [12, 16, 20, 21], leds: {idle: 17, ...}}
      long_press_s: 1.5
      transfer_service: residence   # default: the counter's first transfer target
      pause_reason: lunch           # what the pause button gives: break (default), lunch, training, ...
      serial: {board: /dev/ttyUSB0} # the counter-top LED board's port, when one is fitted
      board_address: 1
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cherga.broker_bridge.contract import CounterCommand, CounterState, PauseReason, Reply, ServerStatus
from cherga.broker_bridge.contract import NodeConfig as OfficeConfig
from cherga.counter_pad.app import MemoryBoard, NumberBoard, PadApp
from cherga.counter_pad.debounce import ButtonEvent
from cherga.counter_pad.hardware import PadHardware, PadPins, is_usable
from cherga.counter_pad.machine import PadButton, PadMachine

if TYPE_CHECKING:
    from cherga.firmware_host.config import NodeConfig
    from cherga.firmware_host.session import NodeSession

log = logging.getLogger(__name__)

HealthValue = str | int | float | bool | None


def _pin_factory_for(name: str | None) -> Any:
    """The gpiozero pin factory the node config asks for (runtime helper when available)."""
    try:
        from cherga.firmware_host.hardware import pin_factory
    except ImportError:
        return None  # gpiozero's default: GPIOZERO_PIN_FACTORY, else its own probing
    return pin_factory(name)


def _board_for(spec: str | None, address: int, on_health: Callable[[Any], None]) -> NumberBoard:
    """The counter-top number board on serial port ``spec``; a memory board when none is fitted."""
    if not spec:
        return MemoryBoard()
    from cherga.counter_pad.board import open_number_board

    try:
        return open_number_board(spec, address, on_health=on_health)
    except Exception:  # a missing board must not keep the buttons from working
        log.exception("cannot open the counter-top board on %s: the number stays dark", spec)
        return MemoryBoard()


class PadRole:
    """Extends nothing; implements :class:`firmware_host.role.NodeRole` for a counter pad.

    :param pin_factory: gpiozero pin factory (``MockFactory()`` in tests); default from the node config.
    :param board: the counter-top number board; default from the node config.
    :param use_gpio: False runs the pad without GPIO (presses only through :meth:`press`).
    :param clock: monotonic seconds.
    :param loop_s: how often the loop polls the buttons.
    """

    def __init__(self, *, pin_factory: Any = None, board: NumberBoard | None = None, use_gpio: bool = True,
                 clock: Callable[[], float] = time.monotonic, loop_s: float = 0.005) -> None:
        self._pin_factory = pin_factory
        self._board = board
        self._use_gpio = use_gpio
        self._clock = clock
        self._loop_s = loop_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: NodeSession | None = None
        self._broker_up = False
        self._server_up = True
        self._explicit_transfer: str | None = None
        self.app: PadApp | None = None
        self.hardware: PadHardware | None = None
        self.office: OfficeConfig | None = None
        self._owned_board: NumberBoard | None = None
        self._verbs: Any = None

    # --- NodeRole --------------------------------------------------------------------------------

    def start(self, session: NodeSession, config: NodeConfig) -> None:
        if not config.counter:
            raise ValueError("a pad needs the counter it drives (counter: in the node config)")
        self._session = session
        hw_opts = config.hardware
        pins_opt = hw_opts.option("pins", None)
        pins = PadPins(**pins_opt) if pins_opt else PadPins()
        if self._use_gpio:
            if not is_usable():
                raise RuntimeError("gpiozero is not installed on this pad: install the 'pad' extra (pip install cherga[pad])")
            factory = self._pin_factory if self._pin_factory is not None else _pin_factory_for(hw_opts.pin_factory)
            self.hardware = PadHardware(pins, pin_factory=factory, clock=self._clock,
                                        long_press_s=float(hw_opts.option("long_press_s", 1.5)))
        board = self._board if self._board is not None else _board_for(
            hw_opts.serial.get("board"), int(hw_opts.option("board_address", 1)), self._on_board_health)
        self._owned_board = board if self._board is None else None
        self._explicit_transfer = hw_opts.option("transfer_service", None)
        try:
            pause_reason = PauseReason(hw_opts.option("pause_reason", PauseReason.BREAK))
        except ValueError:
            raise ValueError(f"hardware.pause_reason must be one of {', '.join(PauseReason)}") from None
        machine = PadMachine(node=config.node, counter=config.counter, transfer_service=self._explicit_transfer,
                             pause_reason=pause_reason,
                             rating_buttons=len(pins.ratings), reply_timeout_s=3.0)
        self.app = PadApp(machine, hardware=self.hardware, board=board, send_now=self._send_now,
                          send_durable=self._send_durable, clock=self._clock)
        session.on_connection(self._on_connection)
        session.on_office_config(self._on_office_config)
        session.subscribe("counter_state", self._on_counter_state)
        session.subscribe("server_status", self._on_server_status)
        session.on_outbox_reply(self._on_outbox_reply)
        self._broker_up = session.connected
        self._update_link()
        self._thread = threading.Thread(target=self._loop, name="pad-loop", daemon=True)
        self._thread.start()
        from cherga.firmware_host import testverbs

        self._verbs = testverbs.from_environment()
        if self._verbs is not None:  # only when CHERGA_TEST_SOCKET is set (HIL harness)
            self._verbs.register("press", self.press)
            self._verbs.register("keys", self.keys)
            self._verbs.register("view", self.view)
            self._verbs.register("health", self.health)

    def stop(self) -> None:
        if self._verbs is not None:
            self._verbs.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self.hardware is not None:
            self.hardware.close()
        close = getattr(self._owned_board, "close", None)
        if callable(close):
            close()

    def health(self) -> dict[str, HealthValue]:
        app = self.app
        if app is None:
            return {"started": False}
        m = app.machine
        st = m.state
        board_health = getattr(app.board, "health", None)
        return {
            **(board_health() if callable(board_health) else {}),
            "link": m.link_up,
            "status": st.status if st else None,
            "signed_in": bool(st and st.operator),
            "number": st.ticket.label if st and st.ticket else None,
            "last_refusal": m.message,
        }

    # --- test verbs and panel-free use -------------------------------------------------------------

    def press(self, button: str, long: bool = False) -> None:
        """Press a button as if by hand (HIL test verb; also ``rate1``..``rateN``).

        On mock pins the pin itself is driven (through debounce, like a finger); otherwise the
        debounced event is injected.
        """
        assert self.app is not None
        hw = self.hardware
        if hw is not None and button in hw.inputs and hasattr(hw.inputs[button].pin, "drive_low"):
            pin = hw.inputs[button].pin
            pin.drive_low()
            time.sleep(hw.long_press_s + 0.2 if long else 0.08)
            pin.drive_high()
            time.sleep(0.06)  # the release settles and the loop acts on it
            return
        if button.startswith("rate"):
            self.app.button_event(button, ButtonEvent.PRESS)
        elif long:
            self.app.button_event(button, ButtonEvent.LONG)
        else:
            event = ButtonEvent.CLICK if PadButton(button) in (PadButton.NEXT, PadButton.TRANSFER, PadButton.PAUSE) \
                else ButtonEvent.PRESS
            self.app.button_event(button, event)

    def keys(self, keys: str) -> None:
        """Type on the PIN keypad, e.g. ``"4711#"`` (HIL test verb)."""
        assert self.app is not None
        for k in keys:
            self.app.key(k)

    def view(self) -> dict[str, Any]:
        """What the pad shows now: LED modes, the board's number, the last refusal (HIL test verb)."""
        assert self.app is not None
        v = self.app.render()
        return {"leds": {k: str(m) for k, m in v.leds.items()}, "number": v.number, "blink": v.blink,
                "message": v.message, "text": v.text, "link": self.app.machine.link_up}

    # --- internals -------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._loop_s):
            try:
                if self.app is not None:
                    self.app.step()
            except Exception:  # the loop must survive a bad event; it is the pad's heartbeat
                log.exception("pad loop step failed")

    def _send_now(self, cmd: CounterCommand) -> bool:
        session = self._session
        if session is None or not session.connected:
            return False
        threading.Thread(target=self._request, args=(session, cmd), name=f"pad-{cmd.action}", daemon=True).start()
        return True

    def _request(self, session: NodeSession, cmd: CounterCommand) -> None:
        from cherga.firmware_host.session import Offline, RequestTimeout

        assert self.app is not None
        try:
            reply = session.request("counter_command", cmd, timeout=self.app.machine.reply_timeout_s)
        except Offline:
            self.app.send_failed(cmd.id)
        except RequestTimeout:
            log.warning("no reply to %s %s", cmd.action, cmd.id)  # the machine's timeout shows it
        else:
            self.app.reply(reply)

    def _send_durable(self, cmd: CounterCommand) -> None:
        assert self._session is not None
        self._session.send_later("counter_command", cmd)

    def _on_connection(self, up: bool) -> None:
        self._broker_up = up
        self._update_link()

    def _on_server_status(self, status: ServerStatus) -> None:
        self._server_up = status.state == "online"
        self._update_link()

    def _update_link(self) -> None:
        if self.app is not None:
            self.app.link(self._broker_up and self._server_up)

    def _on_counter_state(self, state: CounterState) -> None:
        if self.app is not None:
            self.app.server_state(state)

    def _on_office_config(self, office: OfficeConfig) -> None:
        self.office = office
        if self.app is not None and office.languages:  # the board words refusals in the office's language
            self.app.machine.language = office.languages[0]
        if self.app is not None and self._explicit_transfer is None and office.counter is not None:
            targets = office.counter.transfer_targets
            self.app.machine.transfer_service = targets[0] if targets else None

    def _on_board_health(self, health: Any) -> None:
        session = self._session
        if session is None:
            return
        # A person must see to a dark counter-top board; the alert clears itself when it answers.
        session.publish("node_alert", session.alert("board_silent", active=not health.ok,
                                                    message=health.last_error or "counter-top board answers"))

    def _on_outbox_reply(self, reply: Reply) -> None:
        if reply.status == "error" and reply.error is not None:
            log.info("rating %s refused: %s", reply.id, reply.error.key)
