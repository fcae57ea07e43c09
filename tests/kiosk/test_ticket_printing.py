"""The paper ticket, printed by a real python-escpos Serial printer into the pty emulator."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops
from pyzbar import pyzbar

from cherga.broker_bridge.contract import Lang, NodeConfig
from cherga.kiosk.emulator import EscPosEmulator
from cherga.kiosk.i18n import text
from cherga.kiosk.printer import PrinterConfig, TicketPrinter
from cherga.kiosk.ticket import TicketLayout, render_text, render_ticket
from tests.kiosk.conftest import demo_office_config, ticket_info


def qr_codes(image: Image.Image) -> list[str]:
    return [d.data.decode() for d in pyzbar.decode(image.convert("L")) if d.type == "QRCODE"]


def crop_equals_text(page: Image.Image, box: tuple[int, int, int, int], value: str, size: int, bold: bool) -> bool:
    expected = render_text(value, size, bold).convert("L")
    region = page.crop(box).convert("L")
    return region.size == expected.size and ImageChops.difference(region, expected).getbbox() is None


def test_kyrgyz_letters_ng_oe_ue_come_out_of_the_printer_as_drawn(
        emulator: EscPosEmulator, serial_printer: TicketPrinter) -> None:
    """GIVEN a Kyrgyz ticket whose office name has Ң Ө Ү
    WHEN the kiosk prints it through python-escpos into the emulator
    THEN the printed pixels of that line equal the line drawn directly, and differ from "???"."""
    office = demo_office_config()
    office.office_names["ky"] = "Өзгөн ЦОН: ҢӨҮ ңөү"
    rendered = render_ticket(ticket_info(language="ky"), office, TicketLayout(paper_mm=80))
    serial_printer.print_ticket(rendered)
    page = emulator.wait_for_tickets(1)[0].image

    line = next(b for b in rendered.blocks if b.item == "office" and "Ң" in b.text)
    assert line.text == "Өзгөн ЦОН: ҢӨҮ ңөү"
    assert crop_equals_text(page, line.box, line.text, line.size, line.bold)
    question_marks = line.text.translate(str.maketrans("ҢӨҮңөү", "??????"))
    assert not crop_equals_text(page, line.box, question_marks, line.size, line.bold)
    # and the same holds for the Kyrgyz "people ahead" line (Сиздин алдыңызда)
    ahead = rendered.blocks_of("people_ahead")[0]
    assert ahead.text == "Сиздин алдыңызда: 7"
    assert crop_equals_text(page, ahead.box, ahead.text, ahead.size, ahead.bold)


def test_the_printed_qr_opens_this_tickets_status_page(
        emulator: EscPosEmulator, serial_printer: TicketPrinter, office: NodeConfig) -> None:
    url = "http://127.0.0.1:8000/t/demo/Q7xK2pLm"
    serial_printer.print_ticket(render_ticket(ticket_info(status_url=url), office))
    printed = emulator.wait_for_tickets(1)[0]
    assert qr_codes(printed.image) == [url]


def test_native_qr_mode_sends_a_short_qr_command_the_phone_can_still_read(
        emulator: EscPosEmulator, office: NodeConfig) -> None:
    url = "http://127.0.0.1:8000/t/demo/N4tive"
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3, native_qr=True))
    try:
        layout = TicketLayout(paper_mm=80, native_qr=True)
        raster = render_ticket(ticket_info(status_url=url), office, TicketLayout(paper_mm=80))
        printer.print_ticket(render_ticket(ticket_info(status_url=url), office, layout))
        printed = emulator.wait_for_tickets(1)[0]
    finally:
        printer.close()
    assert printed.qr_codes == [url]
    assert qr_codes(printed.image) == [url]
    assert len(printed.raw) < sum(len(p.tobytes()) for p in raster.pieces if isinstance(p, Image.Image))


@pytest.mark.parametrize("paper_mm,dots", [(58, 384), (80, 576)])
@pytest.mark.parametrize("lang", ["uk", "ru", "ky", "kk", "en"])
def test_every_line_of_the_ticket_stays_on_the_paper(paper_mm: int, dots: int, lang: Lang) -> None:
    office = demo_office_config()
    office.office_names[lang] = office.office_names[lang] + " — Довга назва центру надання адміністративних послуг"
    for service in office.services:
        t = ticket_info(service=service.id, language=lang, counter_number="10", priority="disability")
        rendered = render_ticket(t, office, TicketLayout(paper_mm=paper_mm, languages=("ru", "ky"),
                                                         footer=office.ticket["footer"]))
        assert rendered.image.width == dots
        for block in rendered.blocks:
            left, _, right, _ = block.box
            assert left >= 0 and right <= dots, (block.text, block.box)
            assert block.size >= 12


def test_bilingual_ticket_prints_both_languages_at_the_same_size(office: NodeConfig) -> None:
    rendered = render_ticket(ticket_info(language="ky"), office,
                             TicketLayout(paper_mm=80, languages=("ky", "ru")))
    for item in ("service", "purpose", "people_ahead", "wait", "please_wait"):
        blocks = rendered.blocks_of(item)
        assert {b.lang for b in blocks} == {"ky", "ru"}, item
        assert len({b.size for b in blocks}) == 1, item
    assert [b.text for b in rendered.blocks_of("service")] == ["Жарандын паспорту", "Паспорт гражданина"]


def test_a_ticket_without_an_estimate_says_so_instead_of_a_number(office: NodeConfig) -> None:
    rendered = render_ticket(ticket_info(language="uk", wait_min=None, people_ahead=None, status_url=None), office,
                             TicketLayout(paper_mm=58))
    assert [b.text for b in rendered.blocks_of("wait")] == [text("uk", "estimate_unavailable")]
    assert rendered.qr_box is None


def test_ticket_shows_the_counter_when_it_is_known(office: NodeConfig) -> None:
    rendered = render_ticket(ticket_info(language="en", counter_number="5"), office, TicketLayout())
    assert [b.text for b in rendered.blocks_of("counter")] == ["Counter 5"]
    assert [b.text for b in rendered.blocks_of("number")] == ["A-012"]


def test_text_mode_is_used_only_when_the_code_page_has_every_letter(emulator: EscPosEmulator,
                                                                      office: NodeConfig) -> None:
    """Russian fits CP866 and prints as text; Kyrgyz Ң does not, so the same printer rasters it;
    RK1048 (Kazakh) has Ң Ө Ү, so a printer with it prints Kyrgyz as text too."""
    layout = TicketLayout(paper_mm=80)
    cp866 = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3, text_codepage="CP866"))
    rk1048 = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3, text_codepage="RK1048"))
    try:
        cp866.print_ticket(render_ticket(ticket_info(language="ru"), office, layout))
        cp866.print_ticket(render_ticket(ticket_info(language="ky"), office, layout))
        rk1048.print_ticket(render_ticket(ticket_info(language="ky"), office, layout))
        ru, ky_raster, ky_text = emulator.wait_for_tickets(3)
    finally:
        cp866.close()
        rk1048.close()
    assert "Перед вами: 7" in ru.text and b"\x1dv0" not in ru.raw
    assert ky_raster.text == [] and b"\x1dv0" in ky_raster.raw
    assert "Сиздин алдыңызда: 7" in ky_text.text
    assert qr_codes(ru.image) == [ticket_info().status_url]


@pytest.mark.parametrize("impl", ["bitImageRaster", "bitImageColumn", "graphics"])
def test_each_image_command_a_printer_may_need_prints_the_same_ticket(
        emulator: EscPosEmulator, office: NodeConfig, impl: str) -> None:
    rendered = render_ticket(ticket_info(language="kk"), office, TicketLayout(paper_mm=58))
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3, dots=384,
                                          image_impl=impl))  # type: ignore[arg-type]
    try:
        printer.print_ticket(rendered)
        page = emulator.wait_for_tickets(1)[0].image
    finally:
        printer.close()
    expected = rendered.image.convert("L")
    # ESC * prints in 24-dot bands: the last band is padded, so compare the ticket's own height
    assert ImageChops.difference(page.crop((0, 0, expected.width, expected.height)), expected).getbbox() is None


RANGE = {"uk": "Орієнтовний час очікування: ≈ 12 хв, не більше 25",
         "ru": "Примерное время ожидания: ≈ 12 мин, не более 25",
         "ky": "Болжолдуу күтүү убактысы: ≈ 12 мүн, көп дегенде 25",
         "kk": "Болжамды күту уақыты: ≈ 12 мин, ең көбі 25",
         "en": "Estimated wait: ≈ 12 min, at most 25"}


@pytest.mark.parametrize("lang", ["uk", "ru", "ky", "kk", "en"])
def test_the_ticket_promises_a_range_in_each_language(office: NodeConfig, lang: Lang) -> None:
    rendered = render_ticket(ticket_info(language=lang, wait_min=12, wait_max_min=25), office,
                             TicketLayout(paper_mm=58, languages=(lang,)))
    wait = " ".join(b.text for b in rendered.blocks_of("wait"))  # wrapped lines, in order
    assert wait.replace("\u00a0", " ") == RANGE[lang]
    # a number never parts from its unit or its words: lines break only after ":" and ","
    assert "≈\u00a012\u00a0" in wait and wait.endswith("\u00a025")


def test_a_ticket_from_a_server_without_a_bound_prints_the_point_alone(office: NodeConfig) -> None:
    rendered = render_ticket(ticket_info(language="en", wait_min=12), office, TicketLayout(languages=("en",)))
    assert [b.text.replace("\u00a0", " ") for b in rendered.blocks_of("wait")] == ["Estimated wait: ≈ 12 min"]


def test_the_kyrgyz_range_comes_out_of_the_printer_as_drawn(
        emulator: EscPosEmulator, serial_printer: TicketPrinter, office: NodeConfig) -> None:
    """Ң Ө Ү in "Болжолдуу күтүү ... көп дегенде" go through the raster path pixel for pixel."""
    rendered = render_ticket(ticket_info(language="ky", wait_min=12, wait_max_min=25), office,
                             TicketLayout(paper_mm=80, languages=("ky",)))
    serial_printer.print_ticket(rendered)
    page = emulator.wait_for_tickets(1)[0].image
    for line in rendered.blocks_of("wait"):
        assert crop_equals_text(page, line.box, line.text, line.size, line.bold)
    joined = " ".join(b.text for b in rendered.blocks_of("wait")).replace("\u00a0", " ")
    assert "көп дегенде 25" in joined and "күтүү" in joined
