"""The kiosk's ticket printer: one interface over python-escpos transports, with honest health.

Transports come from configuration (``type: usb | serial | network | file | dummy``) and map to
python-escpos ``Usb``, ``Serial``, ``Network``, ``File`` and ``Dummy``; ``CHERGA_PRINTER=dummy``
in the environment swaps in the ``Dummy`` transport, the way gpiozero picks its mock pins.

Printing: the ticket is a raster (``GS v 0``) drawn by :mod:`kiosk.ticket`, so every letter of
every language prints. With ``native_qr`` the QR goes as the printer's own ``GS ( k`` command
(~65 bytes instead of ~900). With ``text_codepage`` (e.g. ``CP866``, ``CP1125`` for Ukrainian,
``RK1048`` for Kazakh and Kyrgyz Ң Ө Ү) the ticket's lines go as code-page text when *every*
letter exists in that code page, and as the raster otherwise.

On a line: the ticket is built as bytes first (:meth:`TicketPrinter.ticket_bytes`) and written
in chunks whose serial write deadline follows their byte count and the baud rate
(:func:`write_timeout_s`); white runs of the raster are paper feeds, and the width is the
printer's own (:meth:`TicketPrinter.layout`), whatever paper the office's config names.

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

from cherga.kiosk.ticket import RenderedTicket, TicketLayout, native_qr_size

log = logging.getLogger(__name__)

INIT = b"\x1b@"
# A serial write may take as long as its bytes need on the line (8N1: 10 bits a byte), with room
# for a printer that pauses to print; a printer that stops reading for longer is a fault.
WRITE_SLACK_S = 3.0
WRITE_MARGIN = 1.5
WRITE_CHUNK = 4096  # bytes per write: a stalled printer is noticed within one chunk's deadline
# Bytes that may still sit between the kiosk and the printer when a write returns (a USB-serial
# adapter's or a pseudo-terminal's buffer): a status answer queues behind them.
LINE_BUFFER_BYTES = 20_000
GS_L_MAX_BODY = 65_535  # GS ( L has a two-byte length field
BLANK_RUN_MIN = 8  # white rows fed (ESC J) instead of sent, from this many on
RT_ONLINE = RT_STATUS_ONLINE  # DLE EOT 1
RT_OFFLINE_CAUSE = b"\x10\x04\x02"  # DLE EOT 2: cover open, stopped by paper end
RT_PAPER = RT_STATUS_PAPER  # DLE EOT 4
PROFILE_BY_DOTS = {384: "POS-5890", 512: "TM-T88V", 576: "TM-T20II"}
# ESC t numbers (Epson) and Python codecs of the code pages text mode may use.
TEXT_CODEPAGES: dict[str, tuple[int, str]] = {
    "CP437": (0, "cp437"), "CP866": (17, "cp866"), "CP855": (34, "cp855"), "CP1125": (44, "cp1125"),
    "CP1251": (46, "cp1251"), "RK1048": (53, "kz1048"),
}



def line_seconds(nbytes: int, baudrate: int) -> float:
    """How long ``nbytes`` take on a serial line at ``baudrate`` (8N1: 10 bits a byte)."""
    return nbytes * 10 / baudrate


def write_timeout_s(nbytes: int, baudrate: int) -> float:
    """The deadline for writing ``nbytes`` at ``baudrate``: the line time, a margin, and slack."""
    return WRITE_SLACK_S + WRITE_MARGIN * line_seconds(nbytes, baudrate)


class PrinterConfigError(ValueError):
    """A printer setting that cannot work (a width the printer does not have, an unknown code page).

    ``field_problems`` holds every problem as ``(setting, what is wrong)``.
    """

    def __init__(self, message: str, field_problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.field_problems = field_problems or [("", message)]


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
    native_qr: bool | None = None  # None: the printer's own QR command when its profile has one
    text_codepage: str | None = None
    cut: Literal["FULL", "PART"] = "PART"
    dsrdtr: bool = True  # serial hardware flow control, as python-escpos defaults
    cutter: bool = True  # False: a tear-off bar, the ticket is only fed out
    # GS v 0 by default; some printers want ESC * columns ("bitImageColumn") or GS ( L ("graphics")
    image_impl: Literal["bitImageRaster", "bitImageColumn", "graphics"] = "bitImageRaster"
    feed_blank: bool = True  # white runs of the ticket as paper feeds (ESC J) instead of raster bytes

    def __post_init__(self) -> None:
        if problems := self.field_problems():
            raise PrinterConfigError("\n".join(f"printer {f}: {m}" for f, m in problems), problems)

    @property
    def profile_name(self) -> str:
        return self.profile or PROFILE_BY_DOTS.get(self.dots, "TM-T20II")

    def problems(self) -> list[str]:
        """What in these settings cannot work on this printer (empty when all is well)."""
        return [f"printer {field}: {message}" for field, message in self.field_problems()]

    def field_problems(self) -> list[tuple[str, str]]:
        """:meth:`problems` as ``(setting, what is wrong)``: the rule :func:`printer_problems` shares."""
        from escpos.capabilities import get_profile

        out: list[tuple[str, str]] = []
        if not isinstance(self.dots, int) or isinstance(self.dots, bool):
            out.append(("dots", f"{self.dots!r} is not a number of dots (384 for 58 mm, 576 for 80 mm)"))
        elif self.dots < 64 or self.dots % 8:
            out.append(("dots", f"{self.dots} is not a printable width (a multiple of 8: 384 for 58 mm, "
                                "576 for 80 mm)"))
        try:
            profile = get_profile(self.profile_name)
        except KeyError:
            return [*out, ("profile", f"{self.profile_name!r} is not a python-escpos profile")]
        pixels = str(profile.profile_data.get("media", {}).get("width", {}).get("pixels", "Unknown"))
        if pixels.isdigit() and isinstance(self.dots, int) and self.dots > int(pixels):
            out.append(("dots", f"{self.dots} is wider than the {self.profile_name} prints ({pixels} dots): "
                                "tickets would be refused (ImageWidthError); set dots to the printer's width"))
        if self.text_codepage:
            cp = str(self.text_codepage).upper()
            if cp not in TEXT_CODEPAGES:
                out.append(("text_codepage", f"{self.text_codepage!r} is not one of {', '.join(TEXT_CODEPAGES)}"))
            elif profile_codepage_number(profile.profile_data, cp) is None:
                out.append(("text_codepage", f"the {self.profile_name} profile has no {cp}"))
        if not isinstance(self.baudrate, int) or self.baudrate <= 0:
            out.append(("baudrate", f"{self.baudrate!r} is not a line rate"))
        return out

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


def printer_problems(options: Any) -> list[tuple[str, str]]:
    """What in a node's ``hardware.printer`` settings cannot work, as ``(setting, what is wrong)``.

    The very rule the kiosk applies when it starts (:meth:`PrinterConfig.field_problems`), for
    checks that run earlier: ``cherga provision check`` on the inventory, ``cherga node`` on
    node.yaml. Empty when the kiosk would accept the settings.
    """
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [("", f"{options!r} is not a mapping of printer settings (type, dots, profile, ...)")]
    try:
        PrinterConfig.from_mapping(options)
    except PrinterConfigError as exc:
        return exc.field_problems
    except (TypeError, ValueError) as exc:  # e.g. vendor_id: "epson"
        return [("", f"cannot be read: {exc}")]
    return []


def profile_codepage_number(profile_data: Mapping[str, Any], name: str) -> int | None:
    """The ``ESC t`` number under which a python-escpos profile lists code page ``name``.

    Printers number their code pages differently (CP866 is 17 on an Epson, 17 or 59 on a
    POS-5890; RK1048 is 53 on an Epson and absent from the POS-5890), so the number comes from
    the printer's profile, never from one fixed table.
    """
    alias = {"RK1048": ("RK1048", "KZ1048")}.get(name, (name,))
    for number, page in (profile_data.get("codePages") or {}).items():
        if str(page).upper() in alias:
            return int(number)
    return None


def open_transport(config: PrinterConfig) -> Escpos:
    """The python-escpos printer object for ``config`` (not yet connected: it opens on first use)."""
    profile = config.profile_name
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


def image_bands(image: Image.Image, min_blank: int = BLANK_RUN_MIN, grain: int = 1) -> list[tuple[int, int, bool]]:
    """``image`` cut into row bands ``(top, bottom, blank)``: white runs of ``min_blank`` rows or
    more are ``blank`` (the printer feeds over them), everything else is printed as raster.

    Band edges fall on multiples of ``grain`` rows (24 for ``ESC *``, which prints 24-dot strips
    and would pad a shorter band with white).
    """
    gray = image.convert("L")
    width, height = gray.width, gray.height
    data = gray.tobytes()
    # a block of rows is white when its darkest pixel is white (about 1,000 rows; no numpy on the Pi)
    white = [min(data[y * width:min(y + grain, height) * width]) >= 128 for y in range(0, height, grain)]
    bands: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(white):
        end = i
        while end < len(white) and white[end] == white[i]:
            end += 1
        top, bottom = i * grain, min(end * grain, height)
        blank = white[i] and bottom - top >= min_blank
        if bands and not blank and not bands[-1][2]:
            bands[-1] = (bands[-1][0], bottom, False)  # a short white run stays inside the raster
        else:
            bands.append((top, bottom, blank))
        i = end
    return bands


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

    @property
    def native_qr(self) -> bool:
        """The QR as the printer's own command (~65 bytes) when set, else when its profile has one."""
        if self.config.native_qr is not None:
            return self.config.native_qr
        return bool(self.transport.profile.supports("qrCode"))

    def layout(self, ticket_settings: Mapping[str, Any]) -> TicketLayout:
        """The office's ticket layout (footer, languages) at the width of *this* printer.

        One office may mix 58 and 80 mm kiosks: the office says what is on the ticket, the
        printer says how wide it is and whether it draws the QR itself.
        """
        office = TicketLayout.from_config(ticket_settings)
        return dataclasses.replace(office, width_dots=self.config.dots, native_qr=self.native_qr)

    # --- status -----------------------------------------------------------------------------------

    def _query(self, request: bytes, wait_s: float = 0.0) -> bytes:
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
            if not wait_s:
                return bytes(device.read(1))
            before = device.timeout
            device.timeout = (before or 0) + wait_s  # the request queues behind bytes still on the line
            try:
                return bytes(device.read(1))
            finally:
                device.timeout = before
        return bytes(self.transport.query_status(request))

    def status(self) -> PrinterHealth:
        """Ask the printer how it is: online first, then paper (see the module docstring)."""
        with self._lock:
            health = self._status()
            self.last_health = health
            return health

    def _status(self, wait_s: float = 0.0) -> PrinterHealth:
        now = time.monotonic()
        try:
            online = self._query(RT_ONLINE, wait_s)
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
                sent = self._send(ticket)
            except PrinterFault:
                raise
            except Exception as exc:
                self._reconnect_later()
                failed = PrinterHealth(PrinterState.OFFLINE, time.monotonic(), f"{type(exc).__name__}: {exc}")
                self.last_health = failed
                raise PrinterFault(failed) from exc
            if check and health.state is not PrinterState.UNKNOWN:
                # Paper may run out (or the cover open) while the ticket prints: ask again once the
                # bytes are out, so the kiosk shows the number instead of "take your ticket".
                queued = min(sent, LINE_BUFFER_BYTES)
                wait = line_seconds(queued, self.config.baudrate) if self.config.type == "serial" else 0.0
                after = self._status(wait)
                self.last_health = after
                if after.fault:
                    after = dataclasses.replace(after, detail=f"{after.detail or after.state.value} during printing")
                    self.last_health = after
                    raise PrinterFault(after)
                health = after
            self.printed += 1
            return health

    def ticket_bytes(self, ticket: RenderedTicket | Image.Image) -> bytes:
        """The exact bytes :meth:`print_ticket` sends for ``ticket`` (init to cut), built offline.

        python-escpos writes the commands into a ``Dummy`` with this printer's profile, so the
        byte count is known before the first byte goes out and the write deadline can follow it.
        """
        from escpos.printer import Dummy

        out = Dummy(profile=self.config.profile_name)
        out._raw(INIT)
        if isinstance(ticket, Image.Image):
            self._send_image(out, ticket)
        elif self._text_mode_possible(ticket):
            self._send_text(out, ticket)
        else:
            for piece in ticket.pieces:
                if isinstance(piece, str):
                    self._send_native_qr(out, piece, ticket.width)
                else:
                    self._send_image(out, piece)
        self._cut(out)
        return bytes(out.output)

    def _send(self, ticket: RenderedTicket | Image.Image) -> int:
        data = self.ticket_bytes(ticket)
        self._write(data)
        return len(data)

    def _write(self, data: bytes) -> None:
        """Send ``data`` in chunks; on a serial line each chunk's deadline follows its line time."""
        p = self.transport
        device = p.device  # opens the connection on first use
        serial_line = self.config.type == "serial" and hasattr(device, "write_timeout")
        for start in range(0, len(data), WRITE_CHUNK):
            chunk = data[start:start + WRITE_CHUNK]
            if serial_line:
                # a printer that stops reading (flow control held by a jam) must become a fault,
                # not a kiosk frozen on "please wait"; a slow line is not a fault
                device.write_timeout = write_timeout_s(len(chunk), self.config.baudrate)  # type: ignore[union-attr]
            p._raw(chunk)
        device = getattr(p, "_device", None)
        if device is not None and hasattr(device, "flush"):
            device.flush()  # "printed" means the bytes have left the kiosk

    def _send_image(self, out: Escpos, image: Image.Image) -> None:
        """``image`` as raster bands; white runs become paper feeds when ``feed_blank`` is on."""
        impl = self.config.image_impl
        width_bytes = (image.width + 7) // 8
        # GS ( L's length field has two bytes: no band may carry more (python-escpos overflows it)
        fragment = (GS_L_MAX_BODY - 10) // width_bytes if impl == "graphics" else 960
        grain = 24 if impl == "bitImageColumn" else 1
        bands = image_bands(image, grain=grain) if self.config.feed_blank else [(0, image.height, False)]
        if any(blank for _, _, blank in bands):
            dpi = out.profile.profile_data.get("media", {}).get("dpi", 203)
            unit = int(dpi) if str(dpi).isdigit() and 0 < int(dpi) < 256 else 203
            out._raw(b"\x1dP" + bytes([unit, unit]))  # GS P: ESC J counts dots
        for top, bottom, blank in bands:
            if blank:
                rows = bottom - top
                while rows > 0:
                    step = min(rows, 255)
                    out._raw(b"\x1bJ" + bytes([step]))
                    rows -= step
            else:
                out.image(image.crop((0, top, image.width, bottom)), impl=impl, fragment_height=fragment)

    def _cut(self, out: Escpos) -> None:
        if not self.config.cutter:
            out.print_and_feed(6)  # a tear-off bar: feed the ticket out past it
        elif out.profile.supports("paperFullCut") or out.profile.supports("paperPartCut"):
            out.cut(mode=self.config.cut)
        else:
            # Many 58 mm profiles (POS-5890, NT-5890K) list no cutter although kiosk printers of
            # that width have one; python-escpos would then send no cut at all.
            out.print_and_feed(6)
            out._raw(PAPER_PART_CUT if self.config.cut == "PART" else PAPER_FULL_CUT)

    def _send_native_qr(self, out: Escpos, url: str, width: int) -> None:
        out._raw(b"\x1ba\x01")  # centre: native QR cannot be centred by python-escpos
        out.qr(url, native=True, size=native_qr_size(url, int(width * 0.45)))
        out._raw(b"\n\x1ba\x00")

    def _text_mode_possible(self, ticket: RenderedTicket) -> bool:
        cp = self.config.text_codepage
        if not cp or cp.upper() not in TEXT_CODEPAGES:
            return False
        if profile_codepage_number(self.transport.profile.profile_data, cp.upper()) is None:
            return False  # this printer has no such code page: ESC t would pick another one
        codec = TEXT_CODEPAGES[cp.upper()][1]
        try:
            for block in ticket.blocks:
                block.text.translate(TEXT_FALLBACKS).encode(codec)
        except UnicodeEncodeError:
            return False  # a letter the code page lacks (e.g. Ң in CP866): raster it is
        return True

    def _send_text(self, out: Escpos, ticket: RenderedTicket) -> None:
        """The ticket's lines as code-page text: small and fast where the printer has the letters."""
        assert self.config.text_codepage
        name = self.config.text_codepage.upper()
        codec = TEXT_CODEPAGES[name][1]
        number = profile_codepage_number(out.profile.profile_data, name)
        assert number is not None
        out._raw(b"\x1bt" + bytes([number]) + b"\x1ba\x01")
        previous = None
        for block in ticket.blocks:
            if previous is not None and block.item != previous:
                out._raw(b"\n")
            previous = block.item
            big = block.item == "number"
            out._raw(b"\x1d!" + (b"\x33" if big else b"\x00") + b"\x1bE" + (b"\x01" if block.bold else b"\x00"))
            out._raw(block.text.translate(TEXT_FALLBACKS).encode(codec) + b"\n")
            if block.item == "datetime" and ticket.qr_url:
                out._raw(b"\x1d!\x00\x1bE\x00")
                self._send_native_qr(out, ticket.qr_url, ticket.width)
                out._raw(b"\x1ba\x01")
        out._raw(b"\x1d!\x00\x1bE\x00\x1ba\x00")

    def close(self) -> None:
        with self._lock:
            try:
                self.transport.close()
            except Exception:  # best effort on shutdown
                log.debug("printer close failed", exc_info=True)
