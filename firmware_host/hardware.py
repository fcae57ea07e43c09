"""Hardware abstraction for the node roles: serial ports, the GPIO pin factory, audio output.

Each piece is a function with a sensible default so a role can take hardware as a keyword
argument (``board=``, ``pin_factory=``) and fall back to what this module picks:

* serial ports through pyserial, addressed by path, by USB ``VID:PID``, ``auto`` (the only
  USB-serial adapter), or by a name a registered factory answers for (the virtual LED board and
  printer emulators answer ``VIRTUAL``), in OctoPrint's shape: factories first, the real opener last;
* the gpiozero pin factory: ``GPIOZERO_PIN_FACTORY`` wins (``mock`` in tests), else the config's
  choice, else lgpio on a Raspberry Pi 5 (RPi.GPIO does not work there), else gpiozero's default;
* the audio output for pygame / aplay, chosen through the environment SDL and ALSA read.

pyserial and gpiozero are imported lazily: a kiosk needs no gpiozero, a laptop no lgpio.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SerialFactory = Callable[..., Any]
_serial_factories: list[SerialFactory] = []
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


class HardwareError(RuntimeError):
    """A device the node needs is missing or cannot be opened; the message says which and why."""


@dataclass(frozen=True)
class SerialPortInfo:
    device: str
    vid: int | None
    pid: int | None
    description: str
    serial_number: str | None

    @property
    def usb_id(self) -> str | None:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else None


def list_serial_ports() -> list[SerialPortInfo]:
    """Serial ports the OS knows (USB adapters, the Pi's UART), sorted by device path."""
    from serial.tools import list_ports

    return sorted((SerialPortInfo(p.device, p.vid, p.pid, p.description or "", p.serial_number)
                   for p in list_ports.comports()), key=lambda p: p.device)


def register_serial_factory(factory: SerialFactory) -> None:
    """``factory(spec, baudrate, **kw)`` returns a port object for specs it owns, else None."""
    if factory not in _serial_factories:
        _serial_factories.append(factory)


def unregister_serial_factory(factory: SerialFactory) -> None:
    if factory in _serial_factories:
        _serial_factories.remove(factory)


def resolve_serial_port(spec: str, ports: list[SerialPortInfo] | None = None) -> str:
    """The device path for ``spec``: a path, ``usb:VID:PID`` (hex) or ``auto`` (exactly one USB adapter)."""
    if spec.startswith("/"):
        return spec
    ports = list_serial_ports() if ports is None else ports
    if m := re.fullmatch(r"usb:([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", spec):
        wanted = f"{m.group(1).lower()}:{m.group(2).lower()}"
        found = [p.device for p in ports if p.usb_id == wanted]
        if not found:
            raise HardwareError(f"no serial adapter with USB id {wanted} is plugged in "
                                f"(seen: {', '.join(p.usb_id or p.device for p in ports) or 'none'})")
        return found[0]
    if spec == "auto":
        usb = [p.device for p in ports if p.vid is not None]
        if len(usb) != 1:
            raise HardwareError(f"'auto' needs exactly one USB serial adapter, found {len(usb)}: {', '.join(usb) or 'none'}")
        return usb[0]
    raise HardwareError(f"serial port {spec!r}: give a path, usb:VID:PID, auto, or a registered name such as VIRTUAL")


def open_serial(spec: str, baudrate: int = 9600, **kwargs: Any) -> Any:
    """Open a serial port by spec: registered factories first (emulators), then pyserial."""
    for factory in list(_serial_factories):
        port = factory(spec, baudrate, **kwargs)
        if port is not None:
            return port
    import serial

    device = resolve_serial_port(spec)
    kwargs.setdefault("timeout", 1.0)
    try:
        return serial.Serial(device, baudrate=baudrate, **kwargs)
    except serial.SerialException as exc:
        raise HardwareError(f"cannot open serial port {device}: {exc}") from exc


def board_model(path: Path = DEVICE_TREE_MODEL) -> str | None:
    """'Raspberry Pi 5 Model B Rev 1.0' on a Pi; None elsewhere."""
    try:
        return path.read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return None


def pin_factory_name(configured: str | None = None, *, env: dict[str, str] | None = None,
                     model: str | None = None) -> str | None:
    """Which gpiozero pin factory to use; None means gpiozero's own default order."""
    e = env if env is not None else os.environ
    if e.get("GPIOZERO_PIN_FACTORY"):
        return e["GPIOZERO_PIN_FACTORY"]
    if configured:
        return configured
    model = model if model is not None else board_model()
    if model and "Raspberry Pi 5" in model:
        return "lgpio"
    return None


def pin_factory(configured: str | None = None) -> Any:
    """A gpiozero pin factory (``MockFactory`` when ``GPIOZERO_PIN_FACTORY=mock``)."""
    from gpiozero import Device

    name = pin_factory_name(configured)
    if name is None:
        return Device._default_pin_factory()
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        # Share the process's mock factory (tests drive its pins) rather than making a second one.
        current = Device.pin_factory
        return current if isinstance(current, MockFactory) else MockFactory()
    from importlib.metadata import entry_points

    for ep in entry_points(group="gpiozero_pin_factories"):
        if ep.name == name:
            return ep.load()()
    raise HardwareError(f"gpiozero has no pin factory {name!r}")


def select_audio_output(device: str | None = None, *, env: dict[str, str] | None = None) -> str:
    """Point SDL (pygame) and ALSA (aplay) at ``device`` (e.g. ``hw:1,0``); returns the choice.

    In tests ``SDL_AUDIODRIVER=dummy`` is kept: nothing is played.
    """
    e = env if env is not None else os.environ
    if e.get("SDL_AUDIODRIVER") == "dummy":
        return "dummy"
    if device:
        e.setdefault("SDL_AUDIODRIVER", "alsa")
        e["AUDIODEV"] = device  # SDL2's ALSA backend reads it
        e["ALSA_CARD"] = device.split(":", 1)[-1].split(",", 1)[0] if device.startswith("hw:") else device
        return device
    return "default"
