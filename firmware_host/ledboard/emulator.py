"""LED boards in software: the same bytes as real boards, for tests and for a bench without hardware.

* :class:`EmulatedBoard` — one board's firmware: answers CLB/1 frames, keeps what it shows.
* :class:`VirtualBoardBus` — duck-types :class:`serial.Serial` (``write``, ``read``, ``timeout``,
  ``in_waiting``, ``reset_input_buffer``, ``close``) with boards on it; selected by the port name
  ``VIRTUAL`` (see :func:`firmware_host.ledboard.open_port`), the way OctoPrint's virtual printer is.
* :class:`PtyBoardBus` — the same boards behind a pseudo-terminal (``os.openpty``): the driver
  opens :attr:`PtyBoardBus.port_name` with a real :class:`serial.Serial`.

Test verbs: ``frames`` (every valid frame received, in order), ``board(addr).shown`` /
``shown_text(addr)``, ``set_unresponsive(addr, True)`` (the board is dead: it neither shows nor answers),
``corrupt_next_reply(addr)`` (one answer with a wrong CRC), ``clear_frames()``.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty

from cherga.firmware_host.ledboard import protocol as p


class EmulatedBoard:
    """The firmware of one board.

    :param address: its bus address (1..247).
    :param kind: ``"number"`` (counter-top) or ``"matrix"`` (hall).
    :param lines: lines a matrix board has; :param cols: characters per line.
    """

    def __init__(self, address: int, kind: str = "number", *, lines: int = 1, cols: int = 8,
                 model: str = "cherga-virtual") -> None:
        self.address = address
        self.kind = p.BoardKind.NUMBER if kind == "number" else p.BoardKind.MATRIX
        self.lines = lines if kind != "number" else 1
        self.cols = cols
        self.model = model
        self.shown: list[str] = []
        self.blink = False
        self.brightness = 100
        self.unresponsive = False
        self.corrupt_replies = 0
        self.frames: list[p.Frame] = []

    def handle(self, frame: p.Frame) -> p.Frame | None:
        """Apply a frame addressed to this board (or broadcast); return the answer, if any."""
        if frame.command in (p.Cmd.ACK, p.Cmd.NAK):
            return None
        self.frames.append(frame)
        if self.unresponsive:  # powered off or cable cut: the frame is on the wire, nothing happens
            return None
        nak = self._apply(frame)
        if frame.address == p.BROADCAST:
            return None
        if nak is not None:
            return p.Frame(self.address, p.Cmd.NAK, frame.seq, bytes([nak]))
        payload = b""
        if frame.command == p.Cmd.PING:
            payload = bytes([self.kind, self.lines, self.cols]) + self.model.encode()
        return p.Frame(self.address, p.Cmd.ACK, frame.seq, payload)

    def _apply(self, frame: p.Frame) -> int | None:
        cmd, data = frame.command, frame.payload
        if cmd == p.Cmd.PING:
            return None
        if cmd == p.Cmd.CLEAR:
            self.shown, self.blink = [], False
            return None
        if cmd == p.Cmd.BRIGHTNESS:
            if len(data) != 1 or data[0] > 100:
                return p.Nak.BAD_PAYLOAD
            self.brightness = data[0]
            return None
        if cmd in (p.Cmd.SHOW_NUMBER, p.Cmd.SHOW_LINES):
            if not data:
                return p.Nak.BAD_PAYLOAD
            try:
                text = data[1:].decode("utf-8")
            except UnicodeDecodeError:
                return p.Nak.BAD_PAYLOAD
            lines = [text] if cmd == p.Cmd.SHOW_NUMBER else text.split("\n")
            if len(lines) > self.lines or any(len(line) > self.cols for line in lines):
                return p.Nak.TOO_LONG
            self.shown, self.blink = lines, bool(data[0] & p.FLAG_BLINK)
            return None
        return p.Nak.UNKNOWN_COMMAND


class VirtualBoardBus:
    """A serial port with emulated boards behind it (duck-types :class:`serial.Serial`).

    Example::

        bus = VirtualBoardBus([EmulatedBoard(3), EmulatedBoard(10, "matrix", lines=4, cols=12)])
        board = CounterBoard(BoardLink(bus), address=3)
        board.show("A-012")
        assert bus.shown_text(3) == "A-012"
    """

    def __init__(self, boards: list[EmulatedBoard] | None = None, *, reply_delay_s: float = 0.0) -> None:
        self.boards: dict[int, EmulatedBoard] = {b.address: b for b in boards or []}
        self.timeout: float | None = 0.1
        self.is_open = True
        self.port = "VIRTUAL"
        self.reply_delay_s = reply_delay_s
        self.frames: list[p.Frame] = []
        self._parser = p.FrameParser()
        self._rx = bytearray()
        self._cv = threading.Condition()

    # --- test verbs ---------------------------------------------------------------------------

    def add(self, board: EmulatedBoard) -> EmulatedBoard:
        self.boards[board.address] = board
        return board

    def board(self, address: int) -> EmulatedBoard:
        return self.boards[address]

    def shown_text(self, address: int) -> str:
        return "\n".join(self.boards[address].shown)

    def set_unresponsive(self, address: int, unresponsive: bool = True) -> None:
        self.boards[address].unresponsive = unresponsive

    def corrupt_next_reply(self, address: int, count: int = 1) -> None:
        self.boards[address].corrupt_replies += count

    def clear_frames(self) -> None:
        self.frames.clear()
        for b in self.boards.values():
            b.frames.clear()

    # --- the serial side ----------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the host; return the boards' answer bytes."""
        out = bytearray()
        for frame in self._parser.feed(data):
            if frame.command not in (p.Cmd.ACK, p.Cmd.NAK):
                self.frames.append(frame)
            targets = list(self.boards.values()) if frame.address == p.BROADCAST else (
                [self.boards[frame.address]] if frame.address in self.boards else [])
            for board in targets:
                reply = board.handle(frame)
                if reply is None:
                    continue
                raw = bytearray(reply.encode())
                if board.corrupt_replies:
                    board.corrupt_replies -= 1
                    raw[-1] ^= 0xFF
                out.extend(raw)
        return bytes(out)

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise OSError("port closed")
        answer = self.receive(bytes(data))
        if answer:
            if self.reply_delay_s:
                time.sleep(self.reply_delay_s)
            with self._cv:
                self._rx.extend(answer)
                self._cv.notify_all()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self._cv:
            while not self._rx:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return b""
                self._cv.wait(remaining)
            chunk = bytes(self._rx[:size])
            del self._rx[:size]
            return chunk

    @property
    def in_waiting(self) -> int:
        return len(self._rx)

    def reset_input_buffer(self) -> None:
        with self._cv:
            self._rx.clear()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.is_open = False


class PtyBoardBus(VirtualBoardBus):
    """Extends :class:`VirtualBoardBus`: the boards sit on the master side of a pseudo-terminal.

    Open :attr:`port_name` with ``serial.Serial(bus.port_name, 9600)``; call :meth:`stop` at the end.
    """

    def __init__(self, boards: list[EmulatedBoard] | None = None) -> None:
        super().__init__(boards)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: the bytes are binary frames
        self.port_name = os.ttyname(self._slave)
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="pty-led-boards", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            answer = self.receive(data)
            if answer:
                with contextlib.suppress(OSError):
                    os.write(self._master, answer)

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
