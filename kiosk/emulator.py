"""An ESC/POS thermal printer on a pseudo-terminal: the kiosk's test and bench backend.

A real python-escpos ``Serial(devfile=emulator.path)`` writes to it exactly as it would to a
printer on ``/dev/ttyUSB0``. The emulator parses the byte stream (init, text in the selected code
page, ``ESC !``/``GS !`` sizes, raster images ``GS v 0``, column images ``ESC *``, graphics
``GS ( L``, native QR ``GS ( k``, feeds, cut) and answers real-time status requests
(``DLE EOT n``, ``GS r n``) the way the current scenario wants:

========================  ===============================================================
scenario                  what the kiosk sees
========================  ===============================================================
``ok``                    online, paper adequate; every cut makes a ticket
``paper_near_end``        online, paper near-end sensor on; tickets still print
``paper_out``             offline, paper out; print data is discarded
``cover_open``            offline, cover open; print data is discarded
``offline``               no answer at all (cable pulled, power off); print data is lost
========================  ===============================================================

Each cut turns what was printed since the last cut into an :class:`EmulatedTicket` with a PNG.
Test verbs: :attr:`tickets`, :meth:`wait_for_tickets`, :meth:`set_scenario`, :meth:`clear`,
:attr:`status_requests`, :attr:`discarded`. The emulator runs in a thread of its own, so the HIL
harness can start one per test::

    with EscPosEmulator() as emu:
        printer = escpos.printer.Serial(devfile=emu.path, timeout=0.3)
        ...
        ticket = emu.wait_for_tickets(1)[0]
        ticket.image.save("ticket.png")

Run ``python -m cherga.kiosk.emulator --out DIR`` for a standalone printer that saves each ticket.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import io
import os
import select
import threading
import time
import tty
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont, ImageOps

from cherga.firmware_host.fonts import font_path

ESC, GS, DLE, EOT, LF, CR, HT, FS = 0x1B, 0x1D, 0x10, 0x04, 0x0A, 0x0D, 0x09, 0x1C

# ESC t n -> Python codec, for the code pages a Cyrillic-capable printer offers (Epson numbering,
# as python-escpos's default profile uses).
CODE_PAGES: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252", 17: "cp866",
    18: "cp852", 19: "cp858", 34: "cp855", 44: "cp1125", 46: "cp1251", 53: "kz1048",
}


class Scenario(enum.StrEnum):
    OK = "ok"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"


@dataclasses.dataclass
class EmulatedTicket:
    """What came out of the printer between two cuts."""

    image: Image.Image  # mode "L", white paper, black print
    raw: bytes
    text: list[str]  # text-mode lines, decoded from their code page
    qr_codes: list[str]  # contents of native QR commands
    cut_at: float  # time.perf_counter() when the cut command arrived

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, format="PNG")
        return out.getvalue()


class _Incomplete(Exception):
    """The buffer ends in the middle of a command: wait for more bytes."""


class EscPosEmulator:
    """An ESC/POS printer behind a pseudo-terminal, parsing and rendering what it receives.

    :param width: printable dots (576 for 80 mm paper, 384 for 58 mm).
    :param scenario: the initial :class:`Scenario`.
    :param out_dir: if given, each ticket is also saved there as ``ticket-NNN.png``.
    :param baudrate: read no faster than a serial line at this rate (8N1: 10 bits a byte), so the
        kiosk's writes block the way they do on a real port; ``None``: as fast as the pty goes.
    """

    def __init__(self, width: int = 576, scenario: Scenario | str = Scenario.OK,
                 out_dir: Path | None = None, baudrate: int | None = None) -> None:
        self.width = width
        self.baudrate = baudrate
        self._paper_left: int | None = None  # bytes until the paper runs out (set_paper_runs_out_after)
        self.scenario = Scenario(scenario)
        self.out_dir = out_dir
        self.tickets: list[EmulatedTicket] = []
        self.status_requests = 0
        self.discarded = 0  # cuts whose tickets were lost to a fault scenario
        self.bytes_received = 0
        self.last_byte_at = 0.0
        self.unknown: list[bytes] = []
        self._buf = bytearray()
        self._raw = bytearray()
        self._cond = threading.Condition()
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.path = ""
        self._reset_page()
        self._reset_modes()

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> EscPosEmulator:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation until pyserial configures it itself
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="escpos-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> EscPosEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._master is not None
        master = self._master
        allowance, last = 0.0, time.monotonic()  # bytes the line has carried and we have not read yet
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            limit = 65536
            if self.baudrate:
                now = time.monotonic()
                # an idle line banks nothing beyond a small receive FIFO
                allowance, last = min(allowance + (now - last) * self.baudrate / 10, 512.0), now
                if allowance < 1:
                    time.sleep((1 - allowance) * 10 / self.baudrate)
                    continue
                limit = int(allowance)
            try:
                data = os.read(master, limit)
            except OSError:  # the other side closed: keep waiting for the next open
                time.sleep(0.01)
                continue
            if data:
                allowance -= len(data)
                for reply in self.feed(data):
                    os.write(master, reply)

    # --- test verbs -------------------------------------------------------------------------------

    def set_scenario(self, scenario: Scenario | str) -> None:
        self.scenario = Scenario(scenario)

    def set_paper_runs_out_after(self, nbytes: int) -> None:
        """The paper runs out once ``nbytes`` more bytes have arrived (in the middle of a ticket)."""
        with self._cond:
            self._paper_left = nbytes

    def clear(self) -> None:
        with self._cond:
            self.tickets.clear()
            self.discarded = 0
            self.status_requests = 0

    def wait_for_tickets(self, count: int, timeout: float = 5.0) -> list[EmulatedTicket]:
        """Block until ``count`` tickets have been cut; raise ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.tickets) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.tickets)} of {count} tickets printed after {timeout} s")
                self._cond.wait(left)
            return list(self.tickets)

    def help(self) -> str:
        return "verbs: tickets, wait_for_tickets(n), set_scenario(" + "|".join(s.value for s in Scenario) + \
            "), clear(), status_requests, discarded, path"

    # --- parsing ----------------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        """Take bytes as the printer receives them; return the status answers to send back."""
        with self._cond:
            if self._paper_left is not None and len(data) > self._paper_left:
                # what arrives up to the paper's end is printed; the rest meets no paper
                head, data = data[:self._paper_left], data[self._paper_left:]
                replies = self._take(head)
                self._paper_left = None
                self.scenario = Scenario.PAPER_OUT
                return replies + self._take(data)
            if self._paper_left is not None:
                self._paper_left -= len(data)
            return self._take(data)

    def _take(self, data: bytes) -> list[bytes]:
        replies: list[bytes] = []
        if data:
            self.bytes_received += len(data)
            self.last_byte_at = time.perf_counter()
            self._buf += data
            while self._buf:
                try:
                    used, reply = self._step(self._buf)
                except _Incomplete:
                    break
                self._raw += self._buf[:used]
                del self._buf[:used]
                if reply is not None:
                    replies.append(reply)
        return replies

    def _reset_modes(self) -> None:
        self.codepage = "cp437"
        self.mode = 0  # ESC ! bits
        self.size = (1, 1)  # GS ! width, height multipliers
        self.align = 0
        self.bold = False
        self.line_spacing = 30
        self._qr_data = b""
        self._qr_module = 3
        self._graphics: Image.Image | None = None

    def _reset_page(self) -> None:
        self._blocks: list[Image.Image] = []
        self._line = ""
        self._texts: list[str] = []
        self._qrs: list[str] = []
        self._skip_lf = False

    @staticmethod
    def _need(buf: bytearray, n: int) -> None:
        if len(buf) < n:
            raise _Incomplete

    def _step(self, buf: bytearray) -> tuple[int, bytes | None]:
        b = buf[0]
        if b == ESC:
            return self._esc(buf), None
        if b == GS:
            return self._gs(buf)
        if b == DLE:
            self._need(buf, 3)
            if buf[1] == EOT:
                return 3, self._status_eot(buf[2])
            if buf[1] in (0x05, 0x14):  # DLE ENQ n, DLE DC4 fn ...: real-time requests we ignore
                return (3 if buf[1] == 0x05 else 5), None
            return 1, None
        if b == FS:  # FS commands (kanji modes): two bytes, ignored
            self._need(buf, 2)
            return 2, None
        if b == LF:
            self._newline()
            return 1, None
        if b in (CR, HT, 0x00):
            return 1, None
        if b < 0x20:
            return 1, None
        # printable text: take the run of text bytes at once
        end = 1
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        self._line += bytes(buf[:end]).decode(self.codepage, errors="replace")
        self._skip_lf = False
        return end, None

    def _esc(self, buf: bytearray) -> int:
        self._need(buf, 2)
        c = buf[1]
        if c == ord("@"):
            self._reset_modes()
            return 2
        if c in b"!EGaM-VR{tJdc2":
            if c == ord("2"):
                self.line_spacing = 30
                return 2
            if c == ord("c"):
                self._need(buf, 4)
                return 4
            self._need(buf, 3)
            n = buf[2]
            if c == ord("!"):
                self.mode = n
            elif c == ord("E"):
                self.bold = bool(n & 1)
            elif c == ord("a"):
                self.align = n % 48 if n >= 48 else n
            elif c == ord("t"):
                self.codepage = CODE_PAGES.get(n, "cp437")
            elif c == ord("J"):
                self._flush_line()
                self._blocks.append(Image.new("L", (self.width, n), 255))
            elif c == ord("d"):
                self._flush_line()
                self._blocks.append(Image.new("L", (self.width, max(0, n) * self.line_spacing), 255))
            return 3
        if c == ord("3"):
            self._need(buf, 3)
            self.line_spacing = buf[2]
            return 3
        if c == ord("p"):
            self._need(buf, 5)
            return 5
        if c == ord("*"):
            self._need(buf, 5)
            m, n = buf[2], buf[3] | buf[4] << 8
            per_col = 3 if m in (32, 33) else 1
            total = 5 + n * per_col
            self._need(buf, total)
            self._column_image(bytes(buf[5:total]), n, per_col, double_width=m in (0, 32))
            return total
        self.unknown.append(bytes(buf[:2]))
        return 2

    def _gs(self, buf: bytearray) -> tuple[int, bytes | None]:
        self._need(buf, 2)
        c = buf[1]
        if c == ord("V"):
            self._need(buf, 3)
            m = buf[2]
            used = 4 if m in (65, 66, 97, 98, 103, 104) else 3
            self._need(buf, used)
            self._cut()
            return used, None
        if c == ord("v"):
            self._need(buf, 8)
            m = buf[3]
            xb, y = buf[4] | buf[5] << 8, buf[6] | buf[7] << 8
            total = 8 + xb * y
            self._need(buf, total)
            self._raster(bytes(buf[8:total]), xb, y, m)
            return total, None
        if c == ord("("):
            self._need(buf, 5)
            fn_class = buf[2]
            length = buf[3] | buf[4] << 8
            total = 5 + length
            self._need(buf, total)
            body = bytes(buf[5:total])
            if fn_class == ord("k"):
                self._two_d(body)
            elif fn_class == ord("L"):
                self._graphics_cmd(body)
            return total, None
        if c == ord("r"):
            self._need(buf, 3)
            return 3, self._status_gs_r(buf[2])
        if c == ord("P"):  # GS P x y: motion units; ESC J here always counts dots
            self._need(buf, 4)
            return 4, None
        if c in b"!BhwHfLWkb":
            if c in (ord("L"), ord("W")):
                self._need(buf, 4)
                return 4, None
            if c == ord("k"):
                return self._barcode(buf), None
            self._need(buf, 3)
            if c == ord("!"):
                n = buf[2]
                self.size = ((n >> 4 & 7) + 1, (n & 7) + 1)
            return 3, None
        self.unknown.append(bytes(buf[:2]))
        return 2, None

    def _barcode(self, buf: bytearray) -> int:
        self._need(buf, 4)
        m = buf[2]
        if m <= 6:  # NUL-terminated data
            end = buf.find(b"\x00", 3)
            if end < 0:
                raise _Incomplete
            return end + 1
        n = buf[3]
        self._need(buf, 4 + n)
        return 4 + n

    # --- status -----------------------------------------------------------------------------------

    def _status_eot(self, n: int) -> bytes | None:
        self.status_requests += 1
        sc = self.scenario
        if sc is Scenario.OFFLINE:
            return None
        fixed = 0x12
        if n == 1:  # printer status: bit 3 = offline
            return bytes([fixed | (0x08 if sc in (Scenario.PAPER_OUT, Scenario.COVER_OPEN) else 0)])
        if n == 2:  # offline cause: bit 2 cover open, bit 5 stopped by paper end
            return bytes([fixed | (0x04 if sc is Scenario.COVER_OPEN else 0)
                          | (0x20 if sc is Scenario.PAPER_OUT else 0)])
        if n == 3:  # error cause
            return bytes([fixed])
        if n == 4:  # paper sensors: bits 2-3 near end, bits 5-6 out
            if sc is Scenario.PAPER_OUT:
                return bytes([fixed | 0x0C | 0x60])
            if sc is Scenario.PAPER_NEAR_END:
                return bytes([fixed | 0x0C])
            return bytes([fixed])
        return bytes([fixed])

    def _status_gs_r(self, n: int) -> bytes | None:
        self.status_requests += 1
        sc = self.scenario
        if sc is Scenario.OFFLINE:
            return None
        if n in (1, 49):
            if sc is Scenario.PAPER_OUT:
                return bytes([0x0F])
            if sc is Scenario.PAPER_NEAR_END:
                return bytes([0x03])
        return bytes([0x00])

    # --- drawing ----------------------------------------------------------------------------------

    def _printing(self) -> bool:
        return self.scenario in (Scenario.OK, Scenario.PAPER_NEAR_END)

    def _text_font(self) -> ImageFont.FreeTypeFont:
        bold = self.bold or bool(self.mode & 0x08)
        return ImageFont.truetype(str(font_path(bold=bold)), 20)

    def _flush_line(self) -> None:
        if not self._line:
            return
        text, self._line = self._line, ""
        self._texts.append(text)
        fnt = self._text_font()
        ascent, descent = fnt.getmetrics()
        w = max(1, int(fnt.getlength(text)))
        strip = Image.new("L", (w, ascent + descent), 255)
        ImageDraw.Draw(strip).text((0, 0), text, font=fnt, fill=0)
        sx = self.size[0] * (2 if self.mode & 0x20 else 1)
        sy = self.size[1] * (2 if self.mode & 0x10 else 1)
        if (sx, sy) != (1, 1):
            strip = strip.resize((w * sx, strip.height * sy))
        self._place(strip)

    def _place(self, strip: Image.Image) -> None:
        line = Image.new("L", (self.width, strip.height), 255)
        x = {0: 0, 1: (self.width - strip.width) // 2, 2: self.width - strip.width}.get(self.align, 0)
        line.paste(strip.crop((0, 0, min(strip.width, self.width), strip.height)), (max(0, x), 0))
        self._blocks.append(line)

    def _newline(self) -> None:
        if self._skip_lf and not self._line:
            self._skip_lf = False
            return
        if self._line:
            self._flush_line()
        else:
            self._blocks.append(Image.new("L", (self.width, self.line_spacing), 255))

    def _raster(self, data: bytes, xb: int, y: int, m: int) -> None:
        self._flush_line()
        im = ImageOps.invert(Image.frombytes("1", (xb * 8, y), data).convert("L"))  # 1 = black dot
        if m & 1:
            im = im.resize((im.width * 2, im.height))
        if m & 2:
            im = im.resize((im.width, im.height * 2))
        self._place(im)

    def _column_image(self, data: bytes, n: int, per_col: int, double_width: bool) -> None:
        height = 8 * per_col
        im = Image.new("L", (n, height), 255)
        px = im.load()
        assert px is not None
        for col in range(n):
            for k in range(per_col):
                byte = data[col * per_col + k]
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        px[col, k * 8 + bit] = 0
        if double_width:
            im = im.resize((n * 2, height))
        self._place(im)
        self._skip_lf = True

    def _two_d(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != ord("1"):  # cn 49: QR; others (PDF417...) are ignored
            return
        fn = body[1]
        if fn == 67 and len(body) > 2:
            self._qr_module = max(1, body[2])
        elif fn == 80:
            self._qr_data = body[3:]
        elif fn == 81:
            content = self._qr_data.decode("utf-8", errors="replace")
            self._qrs.append(content)
            code = qrcode.QRCode(border=0, box_size=self._qr_module,
                                 error_correction=qrcode.constants.ERROR_CORRECT_M)
            code.add_data(content)
            code.make(fit=True)
            self._flush_line()
            img = code.make_image().get_image().convert("L")
            padded = ImageOps.expand(img, border=self._qr_module * 4, fill=255)  # the quiet zone
            self._place(padded)

    def _graphics_cmd(self, body: bytes) -> None:
        if len(body) < 2:
            return
        fn = body[1]
        if fn == ord("p") and len(body) >= 10:
            bx, by = body[3], body[4]
            w, h = body[6] | body[7] << 8, body[8] | body[9] << 8
            data = body[10:]
            xb = (w + 7) // 8
            if len(data) < xb * h:  # a length field that does not cover the image: the printer prints garbage
                self.unknown.append(body[:10])
                return
            im = ImageOps.invert(Image.frombytes("1", (xb * 8, h), data[: xb * h]).convert("L"))
            if bx == 2 or by == 2:
                im = im.resize((im.width * bx, im.height * by))
            self._graphics = im
        elif fn == ord("2") and self._graphics is not None:
            self._flush_line()
            self._place(self._graphics)
            self._graphics = None

    def _cut(self) -> None:
        cut_at = time.perf_counter()  # the ticket's last byte is here; drawing it is our own time
        self._flush_line()
        raw, self._raw = bytes(self._raw), bytearray()
        if not self._printing():
            self.discarded += 1
            self._reset_page()
            return
        height = sum(b.height for b in self._blocks) or 1
        page = Image.new("L", (self.width, height), 255)
        y = 0
        for block in self._blocks:
            page.paste(block, (0, y))
            y += block.height
        ticket = EmulatedTicket(page, raw, list(self._texts), list(self._qrs), cut_at)
        self.tickets.append(ticket)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            page.save(self.out_dir / f"ticket-{len(self.tickets):03d}.png")
        self._reset_page()
        self._cond.notify_all()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An ESC/POS printer on a pseudo-terminal")
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--scenario", default="ok", choices=[s.value for s in Scenario])
    parser.add_argument("--out", type=Path, default=Path("printed"))
    args = parser.parse_args(argv)
    with EscPosEmulator(args.width, args.scenario, args.out) as emu:
        print(emu.path, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
