"""The Cherga LED board protocol (CLB/1): framing, commands and a resynchronising parser.

An open, documented protocol for counter-top number boards and hall matrix boards on RS-485 or a
plain serial line (9600 8N1 by default). ``docs/led-protocol.md`` is the reference for firmware
authors; this module is the only code that builds or parses frames.

Frame (both directions)::

    STX  ADDR  CMD  SEQ  LEN  PAYLOAD[LEN]  CRC_LO  CRC_HI
    0x02 1..247      0-255 0-250            CRC-16/MODBUS over ADDR..PAYLOAD

The host sends a command to one address (0 = broadcast, never answered); the board answers
with the same ADDR and SEQ and CMD = ACK (0x06, payload per command) or NAK (0x15, one error
byte). A board drops a frame whose CRC is wrong (the host times out and retries) and ignores
frames whose CMD is ACK or NAK (so boards on one bus never answer each other).
"""

from __future__ import annotations

import dataclasses
import enum

STX = 0x02
BROADCAST = 0
MAX_ADDRESS = 247
MAX_PAYLOAD = 250
HEADER = 5  # STX ADDR CMD SEQ LEN
TRAILER = 2  # CRC


class Cmd(enum.IntEnum):
    PING = 0x01  # -> ACK [kind, rows, cols, *model utf-8]
    SHOW_NUMBER = 0x10  # [flags, *text utf-8]          flags bit0: blink
    SHOW_LINES = 0x11  # [flags, *lines utf-8 joined by LF]  flags bit0: blink the first line
    CLEAR = 0x12  # []
    BRIGHTNESS = 0x13  # [percent 0..100]
    ACK = 0x06
    NAK = 0x15


class Nak(enum.IntEnum):
    UNKNOWN_COMMAND = 0x01
    BAD_PAYLOAD = 0x02
    TOO_LONG = 0x03
    BUSY = 0x04


class BoardKind(enum.IntEnum):
    NUMBER = ord("N")  # counter-top: one number
    MATRIX = ord("M")  # hall matrix: several lines


FLAG_BLINK = 0x01


class FrameError(ValueError):
    """A frame that cannot be built (bad address, payload too long)."""


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): ``crc16(b"123456789") == 0x4B37``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclasses.dataclass(frozen=True)
class Frame:
    address: int
    command: int
    seq: int
    payload: bytes = b""

    def encode(self) -> bytes:
        if not 0 <= self.address <= MAX_ADDRESS:
            raise FrameError(f"address {self.address} is outside 0..{MAX_ADDRESS}")
        if len(self.payload) > MAX_PAYLOAD:
            raise FrameError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        body = bytes([self.address, self.command, self.seq & 0xFF, len(self.payload)]) + self.payload
        crc = crc16(body)
        return bytes([STX]) + body + bytes([crc & 0xFF, crc >> 8])

    @property
    def name(self) -> str:
        try:
            return Cmd(self.command).name
        except ValueError:
            return f"0x{self.command:02X}"

    def text(self) -> str:
        """The text of a SHOW_NUMBER / SHOW_LINES payload (after the flags byte)."""
        return self.payload[1:].decode("utf-8", errors="replace")


class FrameParser:
    """Turns a byte stream into frames; skips noise and frames with a bad CRC (counted)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_crc = 0
        self.noise = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        frames: list[Frame] = []
        while True:
            start = self._buf.find(bytes([STX]))
            if start < 0:
                self.noise += len(self._buf)
                self._buf.clear()
                return frames
            if start:
                self.noise += start
                del self._buf[:start]
            if len(self._buf) < HEADER:
                return frames
            length = self._buf[4]
            if length > MAX_PAYLOAD:
                del self._buf[:1]  # not a real header: resync on the next STX
                self.noise += 1
                continue
            total = HEADER + length + TRAILER
            if len(self._buf) < total:
                return frames
            body = bytes(self._buf[1:HEADER + length])
            crc = self._buf[HEADER + length] | (self._buf[HEADER + length + 1] << 8)
            if crc != crc16(body):
                self.bad_crc += 1
                del self._buf[:1]
                continue
            frames.append(Frame(body[0], body[1], body[2], body[4:]))
            del self._buf[:total]


def show_number(address: int, seq: int, text: str, blink: bool = False) -> Frame:
    return Frame(address, Cmd.SHOW_NUMBER, seq, bytes([FLAG_BLINK if blink else 0]) + text.encode())


def show_lines(address: int, seq: int, lines: list[str], blink_first: bool = False) -> Frame:
    return Frame(address, Cmd.SHOW_LINES, seq, bytes([FLAG_BLINK if blink_first else 0]) + "\n".join(lines).encode())


def brightness(address: int, seq: int, percent: int) -> Frame:
    return Frame(address, Cmd.BRIGHTNESS, seq, bytes([max(0, min(100, percent))]))


def ping(address: int, seq: int) -> Frame:
    return Frame(address, Cmd.PING, seq)


def clear(address: int, seq: int) -> Frame:
    return Frame(address, Cmd.CLEAR, seq)
