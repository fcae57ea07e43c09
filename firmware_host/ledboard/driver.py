"""The host side of the LED board protocol: one bus (serial port), boards on it, and a worker.

* :class:`BoardLink` — one serial port (an RS-485 bus or a point-to-point line). Sends a frame,
  waits for the matching ACK/NAK with a timeout, retries. Any object with pyserial's
  ``write``/``read``/``timeout``/``reset_input_buffer`` works: a real :class:`serial.Serial`, the
  emulator :class:`~firmware_host.ledboard.emulator.VirtualBoardBus`, or a pseudo-terminal.
* :class:`LedBoard` — one addressed board; :class:`CounterBoard` shows one number,
  :class:`HallMatrixBoard` shows the last calls, one per line.
* :class:`BoardSet` — keeps what each board *should* show and pushes it from a thread of its own,
  so a silent board never stalls the screen or the other boards: a board that stops answering is
  marked silent (health, callback → ``NodeAlert``) and only probed every ``probe_s`` until it
  answers again, when it gets its current content back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cherga.broker_bridge.contract import NodeAlert
from cherga.firmware_host.ledboard import protocol as p

log = logging.getLogger(__name__)


class SerialLike(Protocol):
    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


class BoardError(Exception):
    """A board did not do what was asked."""


class BoardSilent(BoardError):
    """No valid answer after every retry."""


class BoardRefused(BoardError):
    """The board answered NAK; ``code`` is a :class:`~firmware_host.ledboard.protocol.Nak`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class BoardLink:
    """One serial port carrying frames to the boards on it.

    :param port: a pyserial-like port (its ``timeout`` is set to a short poll interval).
    :param timeout: seconds to wait for an answer per attempt.
    :param retries: extra attempts after the first (so ``retries=2`` means three frames).
    """

    def __init__(self, port: SerialLike, *, timeout: float = 0.15, retries: int = 2) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._seq = 0
        self._lock = threading.Lock()
        self._parser = p.FrameParser()
        port.timeout = min(timeout, 0.02)

    def transact(self, frame: p.Frame) -> p.Frame | None:
        """Send ``frame`` (its ``seq`` is replaced) and return the ACK; ``None`` for broadcasts."""
        with self._lock:
            last_error = "no answer"
            for attempt in range(self.retries + 1):
                self._seq = (self._seq + 1) & 0xFF
                out = dataclasses.replace(frame, seq=self._seq)
                self.port.reset_input_buffer()
                self._parser = p.FrameParser()
                self.port.write(out.encode())
                if out.address == p.BROADCAST:
                    return None
                reply = self._await(out)
                if reply is None:
                    last_error = f"no answer within {self.timeout:.2f} s (attempt {attempt + 1})"
                    continue
                if reply.command == p.Cmd.NAK:
                    code = reply.payload[0] if reply.payload else 0
                    if code == p.Nak.BUSY:
                        last_error = "busy"
                        continue
                    raise BoardRefused(code, f"board {out.address} refused {out.name}: NAK {code}")
                return reply
            raise BoardSilent(f"board {frame.address}: {last_error}")

    def _await(self, sent: p.Frame) -> p.Frame | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            chunk = self.port.read(64)
            if not chunk:
                continue
            for reply in self._parser.feed(chunk):
                if (reply.address == sent.address and reply.seq == sent.seq
                        and reply.command in (p.Cmd.ACK, p.Cmd.NAK)):
                    return reply
        return None

    def close(self) -> None:
        self.port.close()


@dataclasses.dataclass
class BoardHealth:
    name: str
    address: int
    ok: bool = True
    failures: int = 0
    last_error: str = ""
    last_ok: float | None = None  # monotonic


class LedBoard:
    """One addressed board on a :class:`BoardLink`.

    Example::

        board = CounterBoard(BoardLink(serial.Serial("/dev/ttyUSB0", 9600)), address=3)
        board.show("A-012", blink=True)
    """

    kind = "board"

    def __init__(self, link: BoardLink, address: int, name: str | None = None) -> None:
        self.link = link
        self.address = address
        self.name = name or f"{self.kind}-{address}"
        self.health = BoardHealth(self.name, address)

    def send(self, frame: p.Frame) -> p.Frame | None:
        try:
            reply = self.link.transact(frame)
        except BoardSilent as exc:
            self.health.ok = False
            self.health.failures += 1
            self.health.last_error = str(exc)
            raise
        self.health.ok, self.health.last_error, self.health.last_ok = True, "", time.monotonic()
        return reply

    def ping(self) -> dict[str, Any]:
        reply = self.send(p.ping(self.address, 0))
        data = reply.payload if reply else b""
        if len(data) < 3:
            return {"kind": "?", "rows": 0, "cols": 0, "model": ""}
        return {"kind": chr(data[0]), "rows": data[1], "cols": data[2], "model": data[3:].decode(errors="replace")}

    def brightness(self, percent: int) -> None:
        self.send(p.brightness(self.address, 0, percent))

    def clear(self) -> None:
        self.send(p.clear(self.address, 0))


class CounterBoard(LedBoard):
    """Extends :class:`LedBoard`: the counter-top board showing the number being served."""

    kind = "counter"

    def show(self, number: str, blink: bool = False) -> None:
        if number:
            self.send(p.show_number(self.address, 0, number, blink))
        else:
            self.clear()


class HallMatrixBoard(LedBoard):
    """Extends :class:`LedBoard`: a hall matrix board, one call per line (``"A-012  5"``)."""

    kind = "matrix"

    def __init__(self, link: BoardLink, address: int, name: str | None = None, *, lines: int = 4,
                 cols: int = 12) -> None:
        super().__init__(link, address, name)
        self.lines = lines
        self.cols = cols

    def format_calls(self, calls: list[tuple[str, str]]) -> list[str]:
        out = []
        for label, counter in calls[: self.lines]:
            gap = max(self.cols - len(label) - len(counter), 1)
            out.append(f"{label}{' ' * gap}{counter}")
        return out

    def show_calls(self, calls: list[tuple[str, str]], blink_first: bool = False) -> None:
        self.send(p.show_lines(self.address, 0, self.format_calls(calls), blink_first))


HealthCallback = Callable[[BoardHealth], None]


class BoardSet:
    """The boards of one node, driven from one worker thread with "latest content wins".

    :param boards: the boards (any mix of links).
    :param on_health: called (from the worker) when a board goes silent or answers again.
    :param probe_s: how often a silent board is tried again.
    """

    def __init__(self, boards: list[LedBoard], *, on_health: HealthCallback | None = None,
                 probe_s: float = 5.0) -> None:
        self.boards = {b.name: b for b in boards}
        self.on_health = on_health
        self.probe_s = probe_s
        self._want: dict[str, Callable[[], None]] = {}
        self._dirty: set[str] = set()
        self._inflight: set[str] = set()
        self._next_probe: dict[str, float] = {}
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BoardSet:
        self._thread = threading.Thread(target=self._run, name="led-boards", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def want(self, name: str, action: Callable[[], None]) -> None:
        """Make ``action`` (e.g. ``lambda: board.show("A-012")``) the board's content; it replaces any older one."""
        with self._cv:
            self._want[name] = action
            self._dirty.add(name)
            self._cv.notify_all()

    def show_number(self, name: str, number: str, blink: bool = False) -> None:
        board = self.boards[name]
        assert isinstance(board, CounterBoard)
        self.want(name, lambda: board.show(number, blink))

    def show_calls(self, name: str, calls: list[tuple[str, str]], blink_first: bool = False) -> None:
        board = self.boards[name]
        assert isinstance(board, HallMatrixBoard)
        self.want(name, lambda: board.show_calls(calls, blink_first))

    def health(self) -> dict[str, str | int | float | bool | None]:
        out: dict[str, str | int | float | bool | None] = {}
        for b in self.boards.values():
            out[f"board_{b.name}_ok"] = b.health.ok
        out["boards_silent"] = sum(not b.health.ok for b in self.boards.values())
        return out

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every answering board got its content (a silent one keeps it for later)."""
        deadline = time.monotonic() + timeout

        def busy() -> bool:
            return bool(self._inflight) or any(self.boards[n].health.ok for n in self._dirty)

        with self._cv:
            while busy() and time.monotonic() < deadline:
                self._cv.wait(0.05)
            return not busy()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                now = time.monotonic()
                ready = [n for n in self._dirty if self._next_probe.get(n, 0.0) <= now]
                if not ready:
                    waits = [self._next_probe[n] - now for n in self._dirty if n in self._next_probe]
                    # silent boards are probed even without new content, to notice they are back
                    silent = [n for n, b in self.boards.items() if not b.health.ok and n not in self._dirty]
                    for n in silent:
                        if self._next_probe.get(n, 0.0) <= now:
                            ready.append(n)
                        else:
                            waits.append(self._next_probe[n] - now)
                    if not ready:
                        self._cv.wait(min(waits, default=1.0))
                        continue
                actions = {n: self._want.get(n) for n in ready}
                self._dirty.difference_update(ready)
                self._inflight.update(ready)
            for name, action in actions.items():
                self._apply(name, action)
            with self._cv:
                self._inflight.clear()
                self._cv.notify_all()

    def _apply(self, name: str, action: Callable[[], None] | None) -> None:
        board = self.boards[name]
        was_ok = board.health.ok
        try:
            if action is None:
                board.ping()
            else:
                action()
        except BoardSilent:
            self._next_probe[name] = time.monotonic() + self.probe_s
            with self._cv:
                if action is not None and name not in self._dirty:
                    self._dirty.add(name)  # keep the content for when the board is back
        except BoardError as exc:
            log.warning("LED board %s: %s", name, exc)
        except Exception:  # a broken port must not end the worker; the board is reported silent
            log.exception("LED board %s failed", name)
            board.health.ok = False
            board.health.last_error = "port error"
            self._next_probe[name] = time.monotonic() + self.probe_s
        else:
            self._next_probe.pop(name, None)
            if action is None and self._want.get(name):
                with self._cv:
                    self._dirty.add(name)  # back: give it its content again
        if board.health.ok != was_ok:
            log.warning("LED board %s is %s", name, "answering again" if board.health.ok else "silent")
            if self.on_health:
                self.on_health(board.health)


def board_alert(health: BoardHealth, node: str, now: dt.datetime | None = None) -> NodeAlert:
    """The ``node_alert`` for a board that went silent (active) or answers again (cleared)."""
    return NodeAlert(
        node=node, ts=now or dt.datetime.now(dt.UTC), kind="led_board_silent", active=not health.ok,
        message=(f"LED board {health.name} (address {health.address}) does not answer: {health.last_error}"
                 if not health.ok else f"LED board {health.name} (address {health.address}) answers again"),
    )
