"""Printer health through a real python-escpos Serial printer and the emulator's scenarios."""

from __future__ import annotations

import pytest
from escpos.printer import Serial

from cherga.broker_bridge.contract import NodeConfig
from cherga.kiosk.emulator import EscPosEmulator, Scenario
from cherga.kiosk.printer import PrinterConfig, PrinterFault, PrinterState, TicketPrinter
from cherga.kiosk.ticket import render_ticket
from tests.kiosk.conftest import ticket_info
from tests.support.wait import wait_until


@pytest.mark.parametrize("scenario,state,fault,warning", [
    (Scenario.OK, PrinterState.OK, False, False),
    (Scenario.PAPER_NEAR_END, PrinterState.PAPER_LOW, False, True),
    (Scenario.PAPER_OUT, PrinterState.PAPER_OUT, True, False),
    (Scenario.COVER_OPEN, PrinterState.COVER_OPEN, True, False),
    (Scenario.OFFLINE, PrinterState.OFFLINE, True, False),
])
def test_printer_health_follows_what_the_printer_reports(
        emulator: EscPosEmulator, serial_printer: TicketPrinter, scenario: Scenario, state: PrinterState,
        fault: bool, warning: bool) -> None:
    emulator.set_scenario(scenario)
    health = serial_printer.status()
    assert (health.state, health.fault, health.warning) == (state, fault, warning)


def test_a_silent_printer_is_offline_although_python_escpos_would_say_paper_ok(
        emulator: EscPosEmulator, serial_printer: TicketPrinter) -> None:
    emulator.set_scenario(Scenario.OFFLINE)
    raw = Serial(devfile=emulator.path, timeout=0.2)
    try:
        assert raw.paper_status() == 2  # FACTS.md: "paper OK" from silence
        assert raw.is_online() is False
    finally:
        raw.close()
    assert serial_printer.status().state is PrinterState.OFFLINE


def test_with_paper_out_nothing_is_printed_and_the_fault_is_reported(
        emulator: EscPosEmulator, serial_printer: TicketPrinter, office: NodeConfig) -> None:
    emulator.set_scenario(Scenario.PAPER_OUT)
    with pytest.raises(PrinterFault) as caught:
        serial_printer.print_ticket(render_ticket(ticket_info(), office))
    assert caught.value.health.state is PrinterState.PAPER_OUT
    assert emulator.tickets == [] and emulator.discarded == 0  # refused before sending a byte
    emulator.set_scenario(Scenario.OK)
    serial_printer.print_ticket(render_ticket(ticket_info(), office))
    assert len(emulator.wait_for_tickets(1)) == 1


def test_paper_near_end_still_prints_and_warns(
        emulator: EscPosEmulator, serial_printer: TicketPrinter, office: NodeConfig) -> None:
    emulator.set_scenario(Scenario.PAPER_NEAR_END)
    health = serial_printer.print_ticket(render_ticket(ticket_info(), office))
    assert health.state is PrinterState.PAPER_LOW
    assert len(emulator.wait_for_tickets(1)) == 1


def test_a_printer_that_cannot_be_opened_is_offline_not_a_crash(tmp_path: object) -> None:
    printer = TicketPrinter(PrinterConfig(type="serial", devfile="/dev/does-not-exist", timeout=0.1))
    assert printer.status().state is PrinterState.OFFLINE
    with pytest.raises(PrinterFault):
        printer.print_ticket(render_ticket(ticket_info(), NodeConfig.model_validate(
            {"node": "k", "role": "kiosk", "office": "o", "office_names": {"en": "O"}, "languages": ["en"],
             "timezone": "UTC", "public_url": "http://x"})))


def test_cherga_printer_dummy_selects_the_dummy_transport(monkeypatch: pytest.MonkeyPatch,
                                                          office: NodeConfig) -> None:
    monkeypatch.setenv("CHERGA_PRINTER", "dummy")
    printer = TicketPrinter(PrinterConfig.from_mapping({"type": "serial", "devfile": "/dev/ttyUSB0"}))
    assert printer.status().state is PrinterState.UNKNOWN  # a Dummy cannot read status
    printer.print_ticket(render_ticket(ticket_info(), office))
    output = printer.transport.output  # type: ignore[attr-defined]
    assert output.startswith(b"\x1b@")  # init
    assert b"\x1dv0" in output  # the raster ticket
    assert b"\x1dV" in output[-4:]  # and the cut


@pytest.mark.parametrize("scenario,answer", [(Scenario.OK, b"\x00"), (Scenario.PAPER_NEAR_END, b"\x03"),
                                             (Scenario.PAPER_OUT, b"\x0f"), (Scenario.OFFLINE, b"")])
def test_the_emulator_answers_gs_r_paper_sensor_requests(emulator: EscPosEmulator, scenario: Scenario,
                                                         answer: bytes) -> None:
    emulator.set_scenario(scenario)
    raw = Serial(devfile=emulator.path, timeout=0.2)
    try:
        assert raw.query_status(b"\x1dr\x01") == answer
    finally:
        raw.close()


def test_an_offline_printer_loses_what_it_is_sent(emulator: EscPosEmulator, office: NodeConfig) -> None:
    emulator.set_scenario(Scenario.OFFLINE)
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.2))
    try:
        printer.print_ticket(render_ticket(ticket_info(), office), check=False)  # blind, as a naive kiosk would
    finally:
        printer.close()
    wait_until(lambda: emulator.discarded >= 1, what="the printer discarding the ticket")
    assert emulator.discarded == 1 and emulator.tickets == []
