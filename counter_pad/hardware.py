"""The pad's GPIO wiring: buttons and status LEDs through gpiozero, any pin factory.

Buttons are wired between a GPIO and ground (the internal pull-up holds them high), LEDs through
a resistor to ground. gpiozero's own ``bounce_time`` is off: every raw edge goes to our
:class:`~counter_pad.debounce.DebouncedButton`, timed by the injected clock, and
:meth:`PadHardware.poll` returns the debounced events. The pin factory is a keyword argument:
``MockFactory()`` in tests, ``LGPIOFactory()`` on a Pi 5, or gpiozero's default (the
``GPIOZERO_PIN_FACTORY`` variable) when none is given.

Default wiring (BCM numbers)::

    buttons   next 5, recall 6, no-show 13, transfer 19, pause/resume 26
    ratings   excellent 12, good 16, acceptable 20, poor 21   (best face first)
    LEDs      idle 17 (green), calling 27 (yellow), serving 22 (blue), offline 23 (red)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from cherga.counter_pad.debounce import ButtonEvent, DebouncedButton
from cherga.counter_pad.machine import LEDS, LedMode, PadButton, PadView

PinId = int | str


def is_usable() -> bool:
    """True when gpiozero is installed (a counter Pi, or a dev box with the ``pad`` extra)."""
    try:
        import gpiozero  # noqa: F401
    except ImportError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class PadPins:
    """Which GPIO each part is wired to."""

    buttons: dict[str, PinId] = dataclasses.field(default_factory=lambda: {
        PadButton.NEXT: 5, PadButton.RECALL: 6, PadButton.NO_SHOW: 13,
        PadButton.TRANSFER: 19, PadButton.PAUSE: 26,
    })
    ratings: tuple[PinId, ...] = (12, 16, 20, 21)  # best face first
    leds: dict[str, PinId] = dataclasses.field(default_factory=lambda: {
        "idle": 17, "calling": 27, "serving": 22, "offline": 23,
    })

    def __post_init__(self) -> None:
        unknown = set(self.buttons) - {b.value for b in PadButton}
        if unknown:
            raise ValueError(f"unknown pad buttons: {sorted(unknown)}")
        if set(self.leds) != set(LEDS):
            raise ValueError(f"the pad needs exactly these LEDs: {', '.join(LEDS)}")
        if not 2 <= len(self.ratings) <= 10:
            raise ValueError("a rating row has 2 to 10 buttons")
        used = [*self.buttons.values(), *self.ratings, *self.leds.values()]
        if len(set(map(str, used))) != len(used):
            raise ValueError("two parts of the pad are wired to the same pin")


def rating_input(face: int) -> str:
    """The input name of rating face ``face`` (1 = best)."""
    return f"rate{face}"


class PadHardware:
    """Extends nothing: owns the gpiozero devices of one pad.

    :param pins: the wiring (:class:`PadPins`).
    :param pin_factory: a gpiozero pin factory; ``None`` uses gpiozero's default.
    :param clock: monotonic seconds for debounce timing (tests pass a fake clock).
    :param bounce_s: see :class:`~counter_pad.debounce.DebouncedButton`.
    :param long_press_s: hold time of a long press.
    :param blink_s: on (and off) time of a blinking LED.
    """

    def __init__(self, pins: PadPins | None = None, *, pin_factory: Any = None,
                 clock: Callable[[], float] = time.monotonic, bounce_s: float = 0.03,
                 long_press_s: float = 1.5, blink_s: float = 0.25) -> None:
        from gpiozero import LED, DigitalInputDevice

        self.pins = pins or PadPins()
        self.long_press_s = long_press_s
        self._clock = clock
        self._blink_s = blink_s
        self._lock = threading.Lock()
        self._events: list[tuple[str, ButtonEvent]] = []
        self.inputs: dict[str, Any] = {}
        self._debounce: dict[str, DebouncedButton] = {}
        named = [(str(name), pin) for name, pin in self.pins.buttons.items()]
        named += [(rating_input(i + 1), pin) for i, pin in enumerate(self.pins.ratings)]
        self.leds: dict[str, Any] = {}
        self._led_modes: dict[str, LedMode] = {}
        try:
            for name, pin in named:
                dev = DigitalInputDevice(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
                self.inputs[name] = dev
                self._debounce[name] = DebouncedButton(bounce_s=bounce_s, long_press_s=long_press_s)
                # Every raw edge (bounce_time=None keeps them all); gpiozero calls these from its
                # own thread on real pins, synchronously on mock pins.
                dev.when_activated = self._edge_handler(name, True)
                dev.when_deactivated = self._edge_handler(name, False)
            for led_name, pin in self.pins.leds.items():
                self.leds[led_name] = LED(pin, pin_factory=pin_factory)
                self._led_modes[led_name] = LedMode.OFF
        except Exception:
            self.close()
            raise

    def _edge_handler(self, name: str, level: bool) -> Callable[[], None]:
        def on_edge() -> None:
            with self._lock:
                events = self._debounce[name].feed(level, self._clock())
                self._events.extend((name, e) for e in events)
        return on_edge

    def poll(self) -> list[tuple[str, ButtonEvent]]:
        """Debounced events since the last call, in order: ``(input name, event)``."""
        with self._lock:
            t = self._clock()
            for name, deb in self._debounce.items():
                self._events.extend((name, e) for e in deb.poll(t))
            events, self._events = self._events, []
        return events

    def show(self, view: PadView) -> None:
        """Set the LEDs; an LED already in the wanted mode is left alone (a blink keeps its phase)."""
        for name, mode in view.leds.items():
            led = self.leds.get(name)
            if led is None or self._led_modes.get(name) is mode:
                continue  # closed, or already showing it
            if mode is LedMode.ON:
                led.on()
            elif mode is LedMode.BLINK:
                led.blink(on_time=self._blink_s, off_time=self._blink_s)
            else:
                led.off()
            self._led_modes[name] = mode

    def led_modes(self) -> dict[str, LedMode]:
        return dict(self._led_modes)

    def close(self) -> None:
        for dev in [*self.inputs.values(), *self.leds.values()]:
            dev.close()
        self.inputs.clear()
        self.leds.clear()
