"""The printer on real lines: serial rates, ticket bytes, image commands, widths, paper running out.

A rate-limited pseudo-terminal (``EscPosEmulator(baudrate=...)``) reads no faster than a serial
line, so the kiosk's writes block as on a real port (the pty itself buffers about 18 KB).
Moving a whole raster ticket at 9600 baud takes half a minute, so the slow rates move a short
(text-mode) ticket for real and check the write deadlines against the real raster byte stream.
"""

from __future__ import annotations

import time

import pytest
from PIL import ImageChops
from pyzbar import pyzbar

from cherga.broker_bridge.contract import NodeConfig
from cherga.kiosk.emulator import EscPosEmulator, Scenario
from cherga.kiosk.printer import (
    PrinterConfig,
    PrinterConfigError,
    PrinterFault,
    PrinterState,
    TicketPrinter,
    line_seconds,
)
from cherga.kiosk.ticket import TicketLayout, render_ticket
from tests.kiosk.conftest import demo_office_config, ticket_info

RATES = [9600, 19200, 38400, 115200]


def bilingual_office() -> NodeConfig:
    return demo_office_config(languages=["ky", "ru"])


def serial(emu: EscPosEmulator, **options: object) -> TicketPrinter:
    return TicketPrinter(PrinterConfig(type="serial", devfile=emu.path, timeout=0.3, **options))  # type: ignore[arg-type]


def gs_l_lengths_match(raw: bytes) -> bool:
    """An independent look at every ``GS ( L`` command: does its length field cover its body?"""
    at = raw.find(b"\x1d(L")
    while at >= 0:
        declared = raw[at + 3] | raw[at + 4] << 8
        body = raw[at + 5:at + 5 + declared]
        if body[:2] == b"0p":  # store raster graphics: 10 header bytes, then the rows
            w, h = body[6] | body[7] << 8, body[8] | body[9] << 8
            if declared != 10 + (w + 7) // 8 * h:
                return False
        at = raw.find(b"\x1d(L", at + 5 + declared)
    return True


def test_a_bilingual_raster_ticket_prints_whole_over_a_115200_baud_line() -> None:
    """The raster ticket used to be 91 KB: more than 5 s on this line, so the fixed write timeout
    cut it off in the middle of a command and the kiosk said "printer not working". Now white
    runs are fed (ESC J) and the QR is the printer's own command: about 50 KB, all of it printed."""
    office = bilingual_office()
    with EscPosEmulator(baudrate=115200) as emu:
        printer = serial(emu, baudrate=115200)
        try:
            rendered = render_ticket(ticket_info(language="ky"), office, printer.layout(office.ticket))
            sent = len(printer.ticket_bytes(rendered))
            started = time.monotonic()
            health = printer.print_ticket(rendered)
            page = emu.wait_for_tickets(1, timeout=30)[0]
            took = time.monotonic() - started
        finally:
            printer.close()
    assert not health.fault
    assert emu.bytes_received >= sent
    assert rendered.qr_box is not None
    above_qr = (0, 0, rendered.width, rendered.qr_box[1])  # the printer draws its QR its own way
    assert ImageChops.difference(page.image.crop(above_qr), rendered.image.convert("L").crop(above_qr)).getbbox() is None
    assert page.qr_codes == [ticket_info().status_url]
    assert [c.data.decode() for c in pyzbar.decode(page.image)] == [ticket_info().status_url]
    assert took >= line_seconds(sent, 115200) * 0.9  # the line really was this slow
    assert sent < 55_000


@pytest.mark.parametrize("baud", RATES)
def test_at_each_line_rate_the_write_deadline_follows_the_real_raster_bytes(
        baud: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write may take as long as its bytes need on the line, whatever the rate: the whole
    raster ticket (its real python-escpos byte stream) gets at least its line time."""
    office = bilingual_office()
    with EscPosEmulator() as emu:
        printer = serial(emu, baudrate=baud, native_qr=False)
        writes: list[tuple[int, float]] = []
        try:
            device = printer.transport.device
            real_write = device.write

            def timed_write(data: bytes) -> int | None:
                writes.append((len(data), device.write_timeout))
                return real_write(data)

            monkeypatch.setattr(device, "write", timed_write)
            rendered = render_ticket(ticket_info(language="ky"), office, printer.layout(office.ticket))
            printer.print_ticket(rendered)
            emu.wait_for_tickets(1)
        finally:
            printer.close()
    ticket = [(n, t) for n, t in writes if n > 3]  # the status requests are 3 bytes each
    total = sum(n for n, _ in ticket)
    assert total == len(printer.ticket_bytes(rendered)) > 40_000
    assert all(t >= line_seconds(n, baud) * 1.2 for n, t in ticket)
    assert sum(t for _, t in ticket) >= line_seconds(total, baud) * 1.2
    # and a printer that stops reading is still noticed within seconds, not minutes
    assert max(t for _, t in ticket) <= 3.0 + 1.5 * line_seconds(4096, baud)


@pytest.mark.parametrize("baud", RATES)
def test_at_each_line_rate_a_text_mode_ticket_moves_at_the_line_rate_and_prints_whole(baud: int) -> None:
    """Where the code page holds every letter (Russian in CP866) the ticket is a few hundred
    bytes: under half a second even at 9600 baud, with the QR as the printer's own command."""
    office = demo_office_config()
    with EscPosEmulator(baudrate=baud) as emu:
        printer = serial(emu, baudrate=baud, text_codepage="CP866")
        try:
            rendered = render_ticket(ticket_info(language="ru"), office, printer.layout(office.ticket))
            sent = len(printer.ticket_bytes(rendered))
            printer.print_ticket(rendered)
            page = emu.wait_for_tickets(1, timeout=30)[0]
        finally:
            printer.close()
    assert sent < 1_000
    assert "Перед вами: 7" in page.text and page.qr_codes == [ticket_info().status_url]


@pytest.mark.parametrize("feed_blank", [True, False])
def test_the_graphics_command_prints_a_whole_80mm_ticket(feed_blank: bool) -> None:
    """GS ( L has a two-byte length: a 960-row band of 72 bytes (69,130 bytes) overflowed it and
    the printer read garbage."""
    office = demo_office_config()
    with EscPosEmulator(width=576) as emu:
        printer = serial(emu, image_impl="graphics", native_qr=False, feed_blank=feed_blank)
        try:
            rendered = render_ticket(ticket_info(language="ky"), office, printer.layout(office.ticket))
            printer.print_ticket(rendered)
            page = emu.wait_for_tickets(1)[0]
        finally:
            printer.close()
    assert gs_l_lengths_match(page.raw)
    expected = rendered.image.convert("L")
    assert ImageChops.difference(page.image.crop((0, 0, expected.width, expected.height)), expected).getbbox() is None


def test_a_58mm_kiosk_in_an_80mm_office_prints_a_58mm_ticket() -> None:
    office = demo_office_config(paper_mm=80)
    with EscPosEmulator(width=384) as emu:
        printer = serial(emu, dots=384)
        try:
            rendered = render_ticket(ticket_info(language="uk"), office, printer.layout(office.ticket))
            health = printer.print_ticket(rendered)
            page = emu.wait_for_tickets(1)[0]
        finally:
            printer.close()
    assert not health.fault and rendered.width == 384
    assert all(b.box[2] <= 384 for b in rendered.blocks)
    assert [c.data.decode() for c in pyzbar.decode(page.image)] == [ticket_info().status_url]


@pytest.mark.parametrize(("options", "words"), [
    ({"dots": 576, "profile": "POS-5890"}, "wider than the POS-5890"),
    ({"dots": 500}, "multiple of 8"),
    ({"dots": 384, "text_codepage": "RK1048"}, "POS-5890 profile has no RK1048"),
    ({"text_codepage": "KOI8"}, "not one of"),
])
def test_a_printer_setting_that_cannot_work_is_refused_when_the_config_is_read(
        options: dict[str, object], words: str) -> None:
    with pytest.raises(PrinterConfigError, match=words):
        PrinterConfig.from_mapping({"type": "serial", **options})


def test_paper_running_out_in_the_middle_of_a_ticket_is_a_fault_at_once() -> None:
    """The ticket's last bytes still sit in the line when the write returns; the status question
    queues behind them and its answer (paper out) comes before the kiosk says "take your ticket"."""
    office = demo_office_config()
    with EscPosEmulator(baudrate=19200) as emu:
        printer = serial(emu, baudrate=19200, text_codepage="CP866")
        try:
            rendered = render_ticket(ticket_info(language="ru"), office, printer.layout(office.ticket))
            emu.set_paper_runs_out_after(len(printer.ticket_bytes(rendered)) // 2)
            with pytest.raises(PrinterFault) as fault:
                printer.print_ticket(rendered)
        finally:
            printer.close()
    assert fault.value.health.state is PrinterState.PAPER_OUT
    assert emu.tickets == [] and emu.discarded == 1 and emu.scenario is Scenario.PAPER_OUT


def test_the_layout_keeps_the_offices_words_and_takes_the_printers_width() -> None:
    office = demo_office_config(paper_mm=80, languages=["ky", "ru"])
    printer = TicketPrinter(PrinterConfig(type="dummy", dots=384))
    layout = printer.layout(office.ticket)
    assert layout.dots == 384 and layout.languages == ("ky", "ru") and layout.footer == TicketLayout.from_config(
        office.ticket).footer
