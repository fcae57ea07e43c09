"""Serial LED boards: the open CLB/1 protocol, the pyserial driver and a board emulator.

Shared by the hall display (hall matrix boards) and the counter pad (counter-top board), so it
lives in the node runtime. ``docs/led-protocol.md`` documents the framing for firmware authors.

:func:`open_port` opens a board bus by name: ``"VIRTUAL"`` gives the emulator (optionally with
boards), anything else goes through :func:`firmware_host.hardware.open_serial` (``/dev/ttyUSB0``,
``usb:VID:PID``, ``auto``, or a name a registered serial factory owns).
"""

from __future__ import annotations

from typing import Any

from cherga.firmware_host.ledboard.driver import (
    BoardError,
    BoardHealth,
    BoardLink,
    BoardRefused,
    BoardSet,
    BoardSilent,
    CounterBoard,
    HallMatrixBoard,
    LedBoard,
    board_alert,
)
from cherga.firmware_host.ledboard.emulator import EmulatedBoard, PtyBoardBus, VirtualBoardBus

VIRTUAL = "VIRTUAL"

__all__ = [
    "VIRTUAL", "BoardError", "BoardHealth", "BoardLink", "BoardRefused", "BoardSet", "BoardSilent",
    "CounterBoard", "EmulatedBoard", "HallMatrixBoard", "LedBoard", "PtyBoardBus", "VirtualBoardBus",
    "board_alert", "open_port",
]


def open_port(spec: str, baudrate: int = 9600, *, boards: list[EmulatedBoard] | None = None, **kw: Any) -> Any:
    """A serial-like port for ``spec``; ``"VIRTUAL"`` is an emulated bus with ``boards`` on it."""
    if spec == VIRTUAL:
        return VirtualBoardBus(boards)
    from cherga.firmware_host.hardware import open_serial

    kw.setdefault("timeout", 0.02)
    return open_serial(spec, baudrate=baudrate, **kw)
