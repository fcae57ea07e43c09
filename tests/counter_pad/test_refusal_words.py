"""A refused press reads as a short word in the office's language on the counter-top board (issue 17).

The board used to be told nothing (or, read from the pad's view, the raw key ``counter_taken``): the
contract's keys stay on the wire and in the pad's health, the board shows a word of at most 8
characters (its width), then the number again once the refused LED stops blinking.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cherga.broker_bridge.contract import LANGUAGES
from cherga.counter_pad.app import MemoryBoard, PadApp
from cherga.counter_pad.machine import PadButton, PadMachine
from cherga.counter_pad.words import BOARD_CHARS, CATALOGS, MEANING, refusal_text
from tests.counter_pad.helpers import T0, reply, state

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def pad_keys() -> set[str]:
    """Every refusal key the pad's machine raises itself (``self._refuse("key", ...)``)."""
    tree = ast.parse((ROOT / "counter_pad" / "machine.py").read_text(encoding="utf-8"))
    return {n.args[0].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "_refuse"
            and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)}


def app(lang: str = "uk") -> tuple[PadApp, MemoryBoard, Clock]:
    clock = Clock()
    machine = PadMachine(node="pad-c1", counter="c1", wall=lambda: T0, flash_s=2.0)
    machine.language = lang
    board = MemoryBoard()
    pad = PadApp(machine, board=board, send_now=lambda c: True, send_durable=lambda c: None, clock=clock)
    pad.link(True)
    pad.server_state(state("closed", operator=None))
    return pad, board, clock


def test_a_counter_taken_by_someone_else_reads_as_a_word_and_then_the_board_clears() -> None:
    pad, board, clock = app("uk")
    for k in "4711#":
        pad.key(k)
    (cid,) = pad.machine.pending
    clock.t = 0.5
    pad.reply(reply(cid, "error", key="counter_taken"))
    assert board.text == "Зайнято" and not board.blink
    assert pad.machine.message == "counter_taken"  # the key stays for the health report and the logs
    clock.t = 2.6  # the refused LED has stopped blinking
    pad.render()
    assert board.text == ""
    assert "counter_taken" not in board.shown


@pytest.mark.parametrize(("lang", "word"), [("uk", "Увійдіть"), ("ru", "Войдите"), ("ky", "Кириңиз"),
                                            ("kk", "Кіріңіз"), ("en", "Sign in")])
def test_next_with_nobody_signed_in_asks_to_sign_in_in_the_offices_language(lang: str, word: str) -> None:
    pad, board, clock = app(lang)
    pad.machine.press(PadButton.NEXT, 0.0)
    pad.render()
    assert board.text == word


def test_the_number_comes_back_after_a_refusal_while_a_visitor_is_called() -> None:
    pad, board, clock = app("ky")
    pad.server_state(state("calling", label="A-012"))
    assert board.text == "A-012" and board.blink
    pad.reply(reply("unknown-id", "error", key="some_key_from_a_newer_server"))
    assert board.text == "Болбойт"  # a key this pad does not know: "refused", never the key
    clock.t = 3.0
    pad.render()
    assert board.text == "A-012" and board.blink


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_refusal_a_pad_meets_has_a_short_word_in_every_language(lang: str) -> None:
    own = CATALOGS.own(lang)
    assert sorted(own) == sorted(CATALOGS.own("en")), f"{lang}: not the same words as English"
    server_keys = {"counter_taken", "busy_at_other_counter", "counter_closed_by_manager", "ticket_in_progress",
                   "bad_pin", "pin_required", "unknown_operator", "stale_command", "internal_error"}
    for key in pad_keys() | server_keys | {"anything_else"}:
        word = refusal_text(lang, key)
        assert word and len(word) <= BOARD_CHARS and "_" not in word, (lang, key, word)
        if lang != "en":
            assert word != refusal_text("en", key), (lang, key, word)
    assert {"not_signed_in", "queue_empty", "busy", "offline", "no_reply", "pin_too_short"} <= pad_keys()
    assert set(MEANING.values()) | {"refused"} == {k.removeprefix("refusal_") for k in own}
