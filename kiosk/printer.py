"""The kiosk's ticket printer: one interface over python-escpos transports, with honest health.

Transports come from configuration (``type: usb | serial | network | file | dummy``) and map to
python-escpos ``Usb``, ``Serial``, ``Network``, ``File`` and ``Dummy``; ``CHERGA_PRINTER=dummy``
in the environment swaps in the ``Dummy`` transport, the way gpiozero picks its mock pins.

Printing: the ticket is a raster (``GS v 0``) drawn by :mod:`kiosk.ticket`, so every letter of
every language prints. With ``native_qr`` the QR goes as the printer's own ``GS ( k`` command
(~65 bytes instead of ~900). With ``text_codepage`` (e.g. ``CP866``, ``CP1125`` for Ukrainian,
``RK1048`` for Kazakh and Kyrgyz Ң Ө Ү) the ticket's lines go as code-page text when *every*
letter exists in that code page, and as the raster otherwise.

Health (FACTS.md): python-escpos ``paper_status()`` says "paper OK" when the printer says
nothing, so :meth:`TicketPrinter.status` asks ``is_online()`` first; a silent printer is
``offline``. Paper near end is a warning (``paper_low``); paper out, cover open and offline are
faults, and :meth:`TicketPrinter.print_ticket` refuses to print into a fault
(:class:`PrinterFault`) so the kiosk can show the number on screen instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from escpos.constants import (
    PAPER_FULL_CUT,
    PAPER_PART_CUT,
    RT_MASK_LOWPAPER,
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos
from PIL import Image

from cherga.kiosk.ticket import RenderedTicket, native_qr_size

log = logging.getLogger(__name__)

INIT = b"\x1b@"
WRITE_TIMEOUT_S = 5.0
RT_ONLINE = RT_STATUS_ONLINE  # DLE EOT 1
RT_OFFLINE_CAUSE = b"\x10\x04\x02"  # DLE EOT 2: cover open, stopped by paper end
RT_PAPER = RT_STATUS_PAPER  # DLE EOT 4
PROFILE_BY_DOTS = {384: "POS-5890", 512: "TM-T88V", 576: "TM-T20II"}
# ESC t numbers (Epson) and Python codecs of the code pages text mode may use.
TEXT_CODEPAGES: dict[str, tuple[int, str]] = {
    "CP437": (0, "cp437"), "CP866": (17, "cp866"), "CP855": (34, "cp855"), "CP1125": (44, "cp1125"),
    "CP1251": (46, "cp1251"), "RK1048": (53, "kz1048"),
}

# Typography that code pages lack, and its plain stand-in (letters are never substituted).
TEXT_FALLBACKS = str.maketrans({"≈": "~", "«": '"', "»": '"', "\u00a0": " ", "—": "-", "–": "-",
                                "…": "...", "’": "'", "ʼ": "'", "“": '"', "”": '"'})


class PrinterState(enum.StrEnum):
    OK = "ok"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # the transport cannot read status (File, LP, Dummy)


FAULTS = frozenset({PrinterState.PAPER_OUT, PrinterState.COVER_OPEN, PrinterState.OFFLINE})


@dataclasses.dataclass(frozen=True)
class PrinterHealth:
    state: PrinterState
    checked_at: float  # time.monotonic()
    detail: str = ""

    @property
    def fault(self) -> bool:
        return self.state in FAULTS

    @property
    def warning(self) -> bool:
        return self.state is PrinterState.PAPER_LOW


class PrinterFault(Exception):
    """The ticket was not printed; ``health`` says why."""

    def __init__(self, health: PrinterHealth) -> None:
        super().__init__(f"printer {health.state.value}: {health.detail}")
        self.health = health


@dataclasses.dataclass(frozen=True)
class PrinterConfig:
    """Which printer, over which transport; built from the node's ``printer:`` settings.

    :param type: ``usb``, ``serial``, ``network``, ``file`` or ``dummy``.
    :param timeout: seconds to wait for a status answer (a silent printer costs this much).
    :param profile: python-escpos capability profile; by default one matching ``dots``.
    """

    type: Literal["usb", "serial", "network", "file", "dummy"] = "dummy"
    devfile: str = "/dev/ttyUSB0"
    baudrate: int = 19200
    host: str = ""
    port: int = 9100
    vendor_id: int = 0x04B8
    product_id: int = 0x0202
    timeout: float = 0.5
    profile: str | None = None
    dots: int = 576
    native_qr: bool = False
    text_codepage: str | None = None
    cut: Literal["FULL", "PART"] = "PART"
    dsrdtr: bool = True  # serial hardware flow control, as python-escpos defaults
    cutter: bool = True  # False: a tear-off bar, the ticket is only fed out
    # GS v 0 by default; some printers want ESC * columns ("bitImageColumn") or GS ( L ("graphics")
    image_impl: Literal["bitImageRaster", "bitImageColumn", "graphics"] = "bitImageRaster"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None = None) -> PrinterConfig:
        data = dict(data or {})
        if os.environ.get("CHERGA_PRINTER"):
            data["type"] = os.environ["CHERGA_PRINTER"]
        for key in ("vendor_id", "product_id"):
            if isinstance(data.get(key), str):
                data[key] = int(data[key], 0)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def open_transport(config: PrinterConfig) -> Escpos:
    """The python-escpos printer object for ``config`` (not yet connected: it opens on first use)."""
    profile = config.profile or PROFILE_BY_DOTS.get(config.dots, "TM-T20II")
    if config.type == "serial":
        from escpos.printer import Serial

        return Serial(devfile=config.devfile, baudrate=config.baudrate, timeout=config.timeout,
                      dsrdtr=config.dsrdtr, profile=profile)
    if config.type == "network":
        from escpos.printer import Network

        return Network(config.host, port=config.port, timeout=config.timeout, profile=profile)
    if config.type == "usb":
        from escpos.printer import Usb

        return Usb(config.vendor_id, config.product_id, timeout=int(config.timeout * 1000), profile=profile)
    if config.type == "file":
        from escpos.printer import File

        return File(config.devfile, profile=profile)
    from escpos.printer import Dummy

    return Dummy(profile=profile)


class TicketPrinter:
    """Prints rendered tickets and reports the printer's health.

    :param config: the printer settings; ``PrinterConfig()`` (a Dummy) by default.
    :param transport: an already built python-escpos printer (tests, benches); wins over config.

    Example::

        printer = TicketPrinter(PrinterConfig(type="serial", devfile="/dev/ttyUSB0"))
        health = printer.status()
        printer.print_ticket(render_ticket(info, node_config))
    """

    def __init__(self, config: PrinterConfig | None = None, *, transport: Escpos | None = None) -> None:
        self.config = config or PrinterConfig.from_mapping()
        self.transport = transport if transport is not None else open_transport(self.config)
        self._lock = threading.RLock()
        self.last_health = PrinterHealth(PrinterState.UNKNOWN, 0.0, "not checked yet")
        self.printed = 0

    # --- status -----------------------------------------------------------------------------------

    def _query(self, request: bytes) -> bytes:
        """One real-time status request and its answer (empty when the printer says nothing).

        python-escpos reads 16 bytes, and pyserial waits the whole timeout for them although the
        answer is one byte; on a serial device we read that one byte and return as soon as it
        arrives, so a healthy printer answers in milliseconds and a silent one costs ``timeout``.
        """
        if type(self.transport)._read is Escpos._read:  # File, LP, Dummy: nothing to ask
            raise NotImplementedError("this transport cannot read status")
        device = self.transport.device  # opens the connection on first use
        if hasattr(device, "reset_input_buffer") and hasattr(device, "read"):
            device.reset_input_buffer()  # a late answer to an earlier question is not this one's
            self.transport._raw(request)
            return bytes(device.read(1))
        return bytes(self.transport.query_status(request))

    def status(self) -> PrinterHealth:
        """Ask the printer how it is: online first, then paper (see the module docstring)."""
        with self._lock:
            health = self._status()
            self.last_health = health
            return health

    def _status(self) -> PrinterHealth:
        now = time.monotonic()
        try:
            online = self._query(RT_ONLINE)
            if not online:
                # Silence is not "paper OK" (python-escpos's paper_status() would say so): offline.
                return PrinterHealth(PrinterState.OFFLINE, now, "no answer to a status request")
            if online[0] & RT_MASK_ONLINE:
                cause = self._query(RT_OFFLINE_CAUSE)
                paper = self._query(RT_PAPER)
                if cause and cause[0] & 0x04:
                    return PrinterHealth(PrinterState.COVER_OPEN, now, "cover open")
                if (cause and cause[0] & 0x20) or (paper and paper[0] & 0x60 == 0x60):
                    return PrinterHealth(PrinterState.PAPER_OUT, now, "paper out")
                return PrinterHealth(PrinterState.OFFLINE, now, f"offline (cause {cause.hex() or 'unknown'})")
            paper = self._query(RT_PAPER)
        except NotImplementedError:
            return PrinterHealth(PrinterState.UNKNOWN, now, "this transport cannot read status")
        except Exception as exc:  # USB unplugged, serial port gone, network refused...
            self._reconnect_later()
            return PrinterHealth(PrinterState.OFFLINE, now, f"{type(exc).__name__}: {exc}")
        # the same masks python-escpos paper_status() applies, but only to a real answer
        if not paper:
            return PrinterHealth(PrinterState.OFFLINE, now, "no answer to the paper status request")
        if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
            return PrinterHealth(PrinterState.PAPER_OUT, now, "paper out")
        if paper[0] & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
            return PrinterHealth(PrinterState.PAPER_LOW, now, "paper near end")
        return PrinterHealth(PrinterState.OK, now, "")

    def _reconnect_later(self) -> None:
        # closing a vanished device may fail too; we reopen on next use anyway
        with contextlib.suppress(Exception):
            self.transport.close()
        self.transport.device = False

    # --- printing ---------------------------------------------------------------------------------

    def print_ticket(self, ticket: RenderedTicket | Image.Image, *, check: bool = True) -> PrinterHealth:
        """Print one ticket and cut. Raises :class:`PrinterFault` (nothing printed) on a fault."""
        with self._lock:
            health = self._status() if check else self.last_health
            self.last_health = health
            if health.fault:
                raise PrinterFault(health)
            try:
                self._send(ticket)
            except PrinterFault:
                raise
            except Exception as exc:
                self._reconnect_later()
                failed = PrinterHealth(PrinterState.OFFLINE, time.monotonic(), f"{type(exc).__name__}: {exc}")
                self.last_health = failed
                raise PrinterFault(failed) from exc
            self.printed += 1
            return health

    def _send(self, ticket: RenderedTicket | Image.Image) -> None:
        p = self.transport
        device = p.device
        if getattr(device, "write_timeout", False) is None:
            # a printer that stops reading (flow control held by a jam) must become a fault,
            # not a kiosk frozen on "please wait"
            device.write_timeout = WRITE_TIMEOUT_S  # type: ignore[union-attr]
        p._raw(INIT)
        if isinstance(ticket, Image.Image):
            p.image(ticket, impl=self.config.image_impl)
        elif self._text_mode_possible(ticket):
            self._send_text(ticket)
        else:
            for piece in ticket.pieces:
                if isinstance(piece, str):
                    self._send_native_qr(piece, ticket.width)
                else:
                    p.image(piece, impl=self.config.image_impl)
        self._cut()
        device = getattr(p, "_device", None)
        if device is not None and hasattr(device, "flush"):
            device.flush()  # "printed" means the bytes have left the kiosk

    def _cut(self) -> None:
        p = self.transport
        if not self.config.cutter:
            p.print_and_feed(6)  # a tear-off bar: feed the ticket out past it
        elif p.profile.supports("paperFullCut") or p.profile.supports("paperPartCut"):
            p.cut(mode=self.config.cut)
        else:
            # Many 58 mm profiles (POS-5890, NT-5890K) list no cutter although kiosk printers of
            # that width have one; python-escpos would then send no cut at all.
            p.print_and_feed(6)
            p._raw(PAPER_PART_CUT if self.config.cut == "PART" else PAPER_FULL_CUT)

    def _send_native_qr(self, url: str, width: int) -> None:
        self.transport._raw(b"\x1ba\x01")  # centre: native QR cannot be centred by python-escpos
        self.transport.qr(url, native=True, size=native_qr_size(url, int(width * 0.45)))
        self.transport._raw(b"\n\x1ba\x00")

    def _text_mode_possible(self, ticket: RenderedTicket) -> bool:
        cp = self.config.text_codepage
        if not cp or cp.upper() not in TEXT_CODEPAGES:
            return False
        codec = TEXT_CODEPAGES[cp.upper()][1]
        try:
            for block in ticket.blocks:
                block.text.translate(TEXT_FALLBACKS).encode(codec)
        except UnicodeEncodeError:
            return False  # a letter the code page lacks (e.g. Ң in CP866): raster it is
        return True

    def _send_text(self, ticket: RenderedTicket) -> None:
        """The ticket's lines as code-page text: small and fast where the printer has the letters."""
        assert self.config.text_codepage
        number, codec = TEXT_CODEPAGES[self.config.text_codepage.upper()]
        p = self.transport
        p._raw(b"\x1bt" + bytes([number]) + b"\x1ba\x01")
        previous = None
        for block in ticket.blocks:
            if previous is not None and block.item != previous:
                p._raw(b"\n")
            previous = block.item
            big = block.item == "number"
            p._raw(b"\x1d!" + (b"\x33" if big else b"\x00") + b"\x1bE" + (b"\x01" if block.bold else b"\x00"))
            p._raw(block.text.translate(TEXT_FALLBACKS).encode(codec) + b"\n")
            if block.item == "datetime" and ticket.qr_url:
                p._raw(b"\x1d!\x00\x1bE\x00")
                self._send_native_qr(ticket.qr_url, ticket.width)
                p._raw(b"\x1ba\x01")
        p._raw(b"\x1d!\x00\x1bE\x00\x1ba\x00")

    def close(self) -> None:
        with self._lock:
            try:
                self.transport.close()
            except Exception:  # best effort on shutdown
                log.debug("printer close failed", exc_info=True)
