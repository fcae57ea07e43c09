"""The hall board model: what a visitor sees and when, with the clock passed in."""

from __future__ import annotations

from cherga.broker_bridge.contract import NodeConfig
from cherga.display.board import BoardSettings, HallBoard

from .conftest import at, call, entry, state


def labels(board: HallBoard, seconds: float) -> list[str]:
    return [r.label for r in board.picture(at(seconds)).rows]


def test_a_new_call_takes_the_top_row_and_blinks_for_blink_s_then_stays_still() -> None:
    board = HallBoard(BoardSettings(blink_s=6, blink_period_s=1.0))
    board.apply_state(state(entry("A-001", "1")), at(0))
    promoted = board.apply_call(call("B-017", "7", 10), at(10))
    assert [p.label for p in promoted] == ["B-017"] and promoted[0].prefix == "B" and promoted[0].number == 17
    top = board.picture(at(10.1)).rows[0]
    assert (top.label, top.counter_number, top.blinking, top.blink_on) == ("B-017", "7", True, True)
    assert board.picture(at(10.6)).rows[0].blink_on is False  # the off half of the blink
    assert board.picture(at(16.1)).rows[0].blinking is False
    assert labels(board, 16.1) == ["B-017", "A-001"]


def test_a_call_holds_the_top_row_seven_seconds_and_faster_calls_wait_their_turn() -> None:
    board = HallBoard(BoardSettings(min_visible_s=7))
    board.apply_state(state(), at(0))
    assert [p.label for p in board.apply_call(call("A-001", "1"), at(0))] == ["A-001"]
    assert board.apply_call(call("A-002", "2"), at(1)) == []
    assert board.apply_call(call("A-003", "3"), at(2)) == []
    assert labels(board, 6.9) == ["A-001"] and board.picture(at(6.9)).queued == 2
    assert board.tick(at(6.9)) == []
    assert [p.label for p in board.tick(at(7.0))] == ["A-002"]
    assert board.tick(at(13.9)) == []
    assert [p.label for p in board.tick(at(14.0))] == ["A-003"]
    assert labels(board, 14) == ["A-003", "A-002", "A-001"]


def test_only_the_last_n_calls_are_listed_newest_first() -> None:
    board = HallBoard(BoardSettings(recent_calls=3, min_visible_s=0))
    board.apply_state(state(), at(0))
    for i in range(1, 6):
        board.apply_call(call(f"A-00{i}", str(i)), at(i))
    assert labels(board, 6) == ["A-005", "A-004", "A-003"]


def test_a_recall_moves_the_ticket_back_to_the_top_without_a_second_row() -> None:
    board = HallBoard(BoardSettings(min_visible_s=0))
    board.apply_state(state(), at(0))
    board.apply_call(call("A-001", "1"), at(0))
    board.apply_call(call("A-002", "2"), at(1))
    promoted = board.apply_call(call("A-001", "1", 30, recall=True), at(30))
    assert [p.label for p in promoted] == ["A-001"] and promoted[0].recall
    assert labels(board, 30) == ["A-001", "A-002"]
    assert board.picture(at(30)).rows[0].blinking


def test_the_same_call_delivered_twice_is_shown_and_announced_once() -> None:
    board = HallBoard()
    board.apply_state(state(), at(0))
    assert len(board.apply_call(call("A-001", "1"), at(0))) == 1
    assert board.apply_call(call("A-001", "1"), at(0.2)) == []
    assert board.tick(at(20)) == []
    assert labels(board, 20) == ["A-001"]


def test_the_first_retained_state_after_a_start_is_drawn_at_once_without_blinking_or_speaking() -> None:
    board = HallBoard()
    promoted = board.apply_state(state(entry("C-003", "3", 1), entry("B-002", "2"), seconds=1), at(2))
    assert promoted == []
    pic = board.picture(at(2))
    assert [r.label for r in pic.rows] == ["C-003", "B-002"]
    assert not any(r.blinking for r in pic.rows)
    assert pic.has_state and pic.load[0].waiting == 7


def test_receiving_the_same_retained_state_again_changes_nothing() -> None:
    board = HallBoard()
    s = state(entry("B-002", "2"), entry("A-001", "1"))
    board.apply_state(s, at(0))
    board.apply_call(call("C-003", "3", 5), at(5))
    before = board.picture(at(6))
    assert board.apply_state(s, at(6)) == []
    assert board.picture(at(6)) == before  # the event's call stays although the older state lacks it


def test_a_call_whose_event_was_missed_is_still_shown_and_announced_from_the_next_state() -> None:
    board = HallBoard()
    board.apply_state(state(entry("A-001", "1")), at(0))
    promoted = board.apply_state(state(entry("B-002", "2", 20), entry("A-001", "1"), seconds=20), at(21))
    assert [p.label for p in promoted] == ["B-002"]
    assert board.picture(at(21)).rows[0].blinking


def test_after_a_long_outage_the_retained_state_replaces_the_picture_without_announcing_old_calls() -> None:
    board = HallBoard()
    board.apply_state(state(entry("A-001", "1")), at(0))
    board.set_connected(False, at(10))
    board.set_connected(True, at(600))
    promoted = board.apply_state(state(entry("D-009", "4", 300), entry("C-008", "3", 200), seconds=300), at(600))
    assert promoted == []
    assert labels(board, 600) == ["D-009", "C-008"]


def test_no_connection_mark_appears_after_a_few_seconds_and_the_last_picture_stays() -> None:
    board = HallBoard(BoardSettings(offline_after_s=3))
    board.apply_state(state(entry("A-001", "1")), at(0))
    board.set_connected(True, at(0))
    board.set_connected(False, at(10))
    assert board.picture(at(12)).offline is False  # a blip is not worth alarming the hall
    late = board.picture(at(13.5))
    assert late.offline is True and [r.label for r in late.rows] == ["A-001"]
    board.set_connected(True, at(20))
    assert board.picture(at(20)).offline is False


def test_languages_alternate_or_stand_side_by_side_as_configured() -> None:
    alt = HallBoard(BoardSettings(layout="alternate", alternate_s=5))
    alt.apply_state(state(), at(0))
    assert alt.picture(at(0)).languages == ("uk",)
    assert alt.picture(at(5)).languages == ("en",)
    assert alt.picture(at(10)).languages == ("uk",)
    assert alt.picture(at(5)).ticker == "Welcome!"
    side = HallBoard(BoardSettings(layout="side_by_side"))
    side.apply_state(state(), at(0))
    pic = side.picture(at(0))
    assert pic.languages == ("uk", "en") and "Ласкаво просимо!" in pic.ticker and "Welcome!" in pic.ticker


def test_the_clock_shows_office_local_time() -> None:
    board = HallBoard(BoardSettings(timezone="Asia/Bishkek"))
    assert board.picture(at(0)).clock == "14:30"
    assert HallBoard(BoardSettings(timezone="Europe/Kyiv")).picture(at(0)).clock == "10:30"


def test_settings_come_from_the_office_config_display_section() -> None:
    office = NodeConfig(node="display-hall", role="display", office="demo", office_names={"uk": "Демо"},
                        languages=["uk", "ky"], timezone="Asia/Bishkek", public_url="http://x",
                        display={"recent_calls": 6, "blink_s": 4, "min_visible_s": 7, "layout": "side_by_side",
                                 "ticker": {"uk": "Вітаємо"}})
    s = BoardSettings.from_office(office)
    assert (s.recent_calls, s.blink_s, s.layout, s.languages, s.timezone) == (6, 4.0, "side_by_side",
                                                                             ("uk", "ky"), "Asia/Bishkek")
