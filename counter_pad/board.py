"""The counter-top number board: the pad's view of a serial LED board (``firmware_host.ledboard``).

:class:`LedNumberBoard` drives one :class:`~firmware_host.ledboard.CounterBoard` through a
:class:`~firmware_host.ledboard.BoardSet` worker, so a slow or silent board never holds up the
buttons ("latest content wins"; content waits for a board that comes back). It reports board
health through ``on_health`` so the role can raise a ``board_silent`` alert.

Node config::

    hardware:
      serial: {board: /dev/ttyUSB0}   # or usb:VID:PID, auto, VIRTUAL
      board_address: 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cherga.firmware_host.ledboard import BoardHealth, BoardLink, BoardSet, CounterBoard, open_port

BOARD_NAME = "counter"


class LedNumberBoard:
    """Extends nothing; a :class:`counter_pad.app.NumberBoard` on a serial LED board.

    :param port: a pyserial-like port (``open_port(spec)``, or a ``VirtualBoardBus`` in tests).
    :param address: the board's bus address.
    :param on_health: called when the board goes silent or answers again.
    :param probe_s: how often a silent board is tried again.
    """

    def __init__(self, port: Any, address: int = 1, *, on_health: Callable[[BoardHealth], None] | None = None,
                 probe_s: float = 5.0) -> None:
        self.port = port
        self.board = CounterBoard(BoardLink(port), address, name=BOARD_NAME)
        self.boards = BoardSet([self.board], on_health=on_health, probe_s=probe_s).start()

    def show(self, text: str, blink: bool = False) -> None:
        self.boards.show_number(BOARD_NAME, text, blink)

    def flush(self, timeout: float = 5.0) -> bool:
        return self.boards.flush(timeout)

    def health(self) -> dict[str, str | int | float | bool | None]:
        return self.boards.health()

    def close(self) -> None:
        self.boards.stop()
        close = getattr(self.port, "close", None)
        if callable(close):
            close()


def open_number_board(spec: str, address: int = 1, *,
                      on_health: Callable[[BoardHealth], None] | None = None) -> LedNumberBoard:
    """The counter-top board on serial port ``spec`` (``/dev/ttyUSB0``, ``usb:VID:PID``, ``VIRTUAL``)."""
    return LedNumberBoard(open_port(spec), address, on_health=on_health)
