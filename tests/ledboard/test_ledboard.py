"""LED boards: the right frames reach the boards, and a silent board is reported, not fatal."""

from __future__ import annotations

import pytest
import serial

from cherga.firmware_host.ledboard import (
    BoardLink,
    BoardRefused,
    BoardSet,
    BoardSilent,
    CounterBoard,
    EmulatedBoard,
    HallMatrixBoard,
    PtyBoardBus,
    VirtualBoardBus,
    board_alert,
    open_port,
)
from cherga.firmware_host.ledboard import protocol as p
from tests.support.wait import wait_until


def test_frames_are_crc16_modbus_checked_and_match_the_documented_example() -> None:
    assert p.crc16(b"123456789") == 0x4B37
    assert p.show_number(3, 1, "A-012").encode().hex(" ") == "02 03 10 01 06 00 41 2d 30 31 32 4b 2d"
    assert p.ping(1, 7).encode().hex(" ") == "02 01 01 07 00 52 28"


def test_parser_skips_noise_and_a_corrupted_frame_and_still_finds_the_next_one() -> None:
    good = p.show_number(3, 2, "B-7").encode()
    bad = bytearray(p.show_number(3, 1, "X-1").encode())
    bad[-3] ^= 0x55
    parser = p.FrameParser()
    frames = parser.feed(b"\xff\x00" + bytes(bad) + good[:4]) + parser.feed(good[4:])
    assert [f.text() for f in frames] == ["B-7"]
    assert parser.bad_crc == 1


def test_counter_top_board_shows_the_number_sent_to_its_address_only() -> None:
    bus = VirtualBoardBus([EmulatedBoard(3), EmulatedBoard(4)])
    CounterBoard(BoardLink(bus), 3).show("A-012", blink=True)
    assert bus.shown_text(3) == "A-012"
    assert bus.board(3).blink is True
    assert bus.shown_text(4) == ""
    assert [(f.address, f.name, f.text()) for f in bus.frames] == [(3, "SHOW_NUMBER", "A-012")]


def test_hall_matrix_board_lists_the_last_calls_one_per_line_newest_first() -> None:
    bus = VirtualBoardBus([EmulatedBoard(10, "matrix", lines=4, cols=12)])
    board = HallMatrixBoard(BoardLink(bus), 10, lines=4, cols=12)
    board.show_calls([("A-012", "5"), ("B-003", "12"), ("C-101", "1"), ("D-001", "2"), ("E-9", "3")],
                     blink_first=True)
    assert bus.board(10).shown == ["A-012      5", "B-003     12", "C-101      1", "D-001      2"]
    assert bus.board(10).blink


def test_ping_reports_the_board_geometry_and_brightness_is_applied() -> None:
    bus = VirtualBoardBus([EmulatedBoard(10, "matrix", lines=4, cols=12, model="hall-4x12")])
    board = HallMatrixBoard(BoardLink(bus), 10)
    assert board.ping() == {"kind": "M", "rows": 4, "cols": 12, "model": "hall-4x12"}
    board.brightness(40)
    assert bus.board(10).brightness == 40


def test_text_too_long_for_the_board_is_refused_with_a_nak() -> None:
    bus = VirtualBoardBus([EmulatedBoard(3, cols=4)])
    with pytest.raises(BoardRefused) as err:
        CounterBoard(BoardLink(bus), 3).show("A-0123456")
    assert err.value.code == p.Nak.TOO_LONG


def test_one_corrupted_answer_is_retried_and_the_number_still_appears() -> None:
    bus = VirtualBoardBus([EmulatedBoard(3)])
    bus.corrupt_next_reply(3)
    board = CounterBoard(BoardLink(bus, timeout=0.05, retries=2), 3)
    board.show("A-001")
    assert bus.shown_text(3) == "A-001"
    assert len(bus.board(3).frames) == 2  # the first answer was garbled, the frame was sent again
    assert board.health.ok


def test_a_board_that_never_answers_raises_silent_after_the_retries() -> None:
    bus = VirtualBoardBus([EmulatedBoard(3)])
    bus.set_unresponsive(3)
    board = CounterBoard(BoardLink(bus, timeout=0.03, retries=2), 3)
    with pytest.raises(BoardSilent):
        board.show("A-001")
    assert len(bus.board(3).frames) == 3
    assert board.health.ok is False and board.health.failures == 1


def test_a_silent_board_is_reported_and_the_other_boards_keep_showing_calls() -> None:
    bus = VirtualBoardBus([EmulatedBoard(3), EmulatedBoard(4), EmulatedBoard(10, "matrix", lines=4, cols=12)])
    link = BoardLink(bus, timeout=0.03, retries=1)
    changes: list[tuple[str, bool]] = []
    boards = BoardSet([CounterBoard(link, 3, "c3"), CounterBoard(link, 4, "c4"), HallMatrixBoard(link, 10, "hall")],
                      on_health=lambda h: changes.append((h.name, h.ok)), probe_s=0.2).start()
    try:
        bus.set_unresponsive(3)
        boards.show_number("c3", "A-001")
        boards.show_number("c4", "B-002")
        boards.show_calls("hall", [("B-002", "4"), ("A-001", "3")])
        assert boards.flush(3)
        assert bus.shown_text(4) == "B-002"
        assert bus.board(10).shown[0].startswith("B-002")
        wait_until(lambda: ("c3", False) in changes, what="board c3 reported silent")
        assert bus.shown_text(3) == ""
        assert boards.health()["board_c3_ok"] is False and boards.health()["boards_silent"] == 1
        alert = board_alert(boards.boards["c3"].health, node="display-hall")
        assert alert.kind == "led_board_silent" and alert.active and "does not answer" in alert.message

        # the board comes back: it is noticed by the probe and gets its number again
        bus.set_unresponsive(3, False)
        wait_until(lambda: bus.shown_text(3) == "A-001", what="board c3 showing A-001 again")
        assert ("c3", True) in changes
        assert board_alert(boards.boards["c3"].health, node="display-hall").active is False
    finally:
        boards.stop()


def test_the_driver_talks_to_the_emulated_board_through_a_real_pseudo_terminal() -> None:
    bus = PtyBoardBus([EmulatedBoard(5), EmulatedBoard(11, "matrix", lines=2, cols=10)])
    port = serial.Serial(bus.port_name, 9600, timeout=0.02)
    try:
        link = BoardLink(port, timeout=0.3)
        CounterBoard(link, 5).show("K-042")
        HallMatrixBoard(link, 11, lines=2, cols=10).show_calls([("K-042", "5"), ("A-001", "1")])
        assert bus.shown_text(5) == "K-042"
        assert bus.board(11).shown == ["K-042    5", "A-001    1"]
        assert [f.name for f in bus.frames] == ["SHOW_NUMBER", "SHOW_LINES"]
    finally:
        port.close()
        bus.stop()


def test_virtual_port_name_opens_the_emulator() -> None:
    bus = open_port("VIRTUAL", boards=[EmulatedBoard(2)])
    CounterBoard(BoardLink(bus), 2).show("7")
    assert bus.shown_text(2) == "7"
