"""The pad's state machine: what a press sends, what is refused, what the LEDs show."""

from __future__ import annotations

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.counter_pad.machine import LedMode, PadButton, PadMachine
from tests.counter_pad.helpers import T0, reply, state


def pad(**kw: object) -> PadMachine:
    m = PadMachine(node="pad-c1", counter="c1", transfer_service="residence", wall=lambda: T0, **kw)  # type: ignore[arg-type]
    m.link(True, 0.0)
    m.server_state(state("idle"))
    return m


def test_next_sends_one_next_command_for_this_counter() -> None:
    m = pad()
    (out,) = m.press(PadButton.NEXT, 1.0)
    assert out.command.action is CounterAction.NEXT and out.command.node == "pad-c1"
    assert not out.durable  # real-time: now or never


def test_next_with_the_link_down_blinks_offline_and_sends_nothing() -> None:
    m = pad()
    m.link(False, 1.0)
    assert m.press(PadButton.NEXT, 1.0) == []
    view = m.view(1.5)
    assert view.leds["offline"] is LedMode.BLINK and view.message == "offline"
    assert m.view(10.0).leds["offline"] is LedMode.ON  # blinking stops, the lamp stays lit while offline


def test_a_press_made_offline_is_not_sent_when_the_link_returns() -> None:
    m = pad()
    m.link(False, 1.0)
    m.press(PadButton.NEXT, 1.0)
    m.link(True, 5.0)
    m.tick(6.0)
    assert m.pending == {}
    (out,) = m.press(PadButton.NEXT, 7.0)  # a fresh press after the return is a fresh command
    assert out.command.action is CounterAction.NEXT


def test_a_second_press_while_the_first_is_unanswered_is_refused() -> None:
    m = pad()
    assert len(m.press(PadButton.NEXT, 1.0)) == 1
    assert m.press(PadButton.NEXT, 1.2) == []
    assert m.view(1.3).message == "busy"


def test_a_command_lost_with_the_link_is_never_resent() -> None:
    m = pad()
    (out,) = m.press(PadButton.NEXT, 1.0)
    m.link(False, 1.1)
    m.link(True, 2.0)
    assert m.pending == {}
    m.tick(10.0)
    assert m.view(10.0).message != "busy"


def test_an_unanswered_command_times_out_and_blinks_offline() -> None:
    m = pad(reply_timeout_s=3.0)
    m.press(PadButton.NEXT, 1.0)
    m.tick(4.5)
    view = m.view(4.6)
    assert view.message == "no_reply" and view.leds["offline"] is LedMode.BLINK
    assert len(m.press(PadButton.NEXT, 5.0)) == 1  # the pad is usable again


def test_nobody_signed_in_means_nobody_is_called() -> None:
    m = pad()
    m.server_state(state("idle", operator=None, seq=2))
    assert m.press(PadButton.NEXT, 1.0) == []
    assert m.view(1.0).message == "not_signed_in"
    assert all(mode is not LedMode.ON for mode in m.view(9.0).leds.values())


def test_the_keypad_pin_signs_in_and_is_never_shown() -> None:
    m = pad()
    m.server_state(state("closed", operator=None, seq=2))
    for k in "4711":
        assert m.key(k, 1.0) == []
    assert m.view(1.0).pin_digits == 4
    (out,) = m.key("#", 1.1)
    assert out.command.action is CounterAction.SIGN_IN and out.command.pin == "4711"
    assert m.view(1.2).pin_digits == 0


def test_a_short_pin_is_refused_and_star_clears() -> None:
    m = pad()
    m.key("1", 0.0)
    m.key("*", 0.1)
    m.key("2", 0.2)
    assert m.key("#", 0.3) == [] and m.message == "pin_too_short"


def test_a_half_typed_pin_expires() -> None:
    m = pad(pin_timeout_s=10.0)
    for k in "12":
        m.key(k, 0.0)
    for k in "3456":
        m.key(k, 30.0)
    (out,) = m.key("#", 30.1)
    assert out.command.pin == "3456"


def test_leds_follow_the_counter_status() -> None:
    m = pad()
    assert m.view(0).leds == {"idle": LedMode.ON, "calling": LedMode.OFF, "serving": LedMode.OFF, "offline": LedMode.OFF}
    m.server_state(state("calling", label="A-012", seq=2))
    v = m.view(0)
    assert v.leds["calling"] is LedMode.ON and v.leds["idle"] is LedMode.OFF and v.number == "A-012"
    m.server_state(state("serving", label="A-012", seq=3))
    assert m.view(0).leds["serving"] is LedMode.ON
    m.server_state(state("paused", seq=4))
    v = m.view(0)
    assert v.leds["idle"] is LedMode.BLINK and v.number == ""


def test_an_older_state_arriving_late_does_not_undo_a_newer_one() -> None:
    m = pad()
    m.server_state(state("calling", label="A-013", seq=5))
    m.server_state(state("calling", label="A-012", seq=4))
    assert m.view(0).number == "A-013"


def test_a_state_of_another_counter_is_ignored() -> None:
    m = pad()
    m.server_state(state("calling", label="B-001", seq=9, counter="c2"))
    assert m.view(0).number == ""


def test_the_reply_redraws_the_pad_at_once() -> None:
    m = pad()
    (out,) = m.press(PadButton.NEXT, 1.0)
    m.reply(reply(out.command.id, counter=state("calling", label="A-012", seq=2)), 1.01)
    assert m.view(1.02).number == "A-012" and m.pending == {}


def test_an_empty_queue_is_shown_not_hidden() -> None:
    m = pad()
    (out,) = m.press(PadButton.NEXT, 1.0)
    m.reply(reply(out.command.id, "empty"), 1.1)
    v = m.view(1.2)
    assert v.message == "queue_empty" and v.leds["idle"] is LedMode.BLINK


def test_a_server_refusal_shows_its_reason_key() -> None:
    m = pad()
    (out,) = m.press(PadButton.NEXT, 1.0)
    m.reply(reply(out.command.id, "error", key="not_signed_in"), 1.1)
    assert m.view(1.2).message == "not_signed_in"


def test_recall_no_show_and_transfer_need_a_visitor() -> None:
    m = pad()
    for b in (PadButton.RECALL, PadButton.NO_SHOW, PadButton.TRANSFER):
        assert m.press(b, 1.0) == [] and m.message == "no_ticket"


def test_transfer_goes_to_the_configured_service_and_long_press_asks_for_a_return() -> None:
    m = pad()
    m.server_state(state("serving", label="A-012", seq=2))
    (out,) = m.press(PadButton.TRANSFER, 1.0)
    assert out.command.to_service == "residence" and out.command.return_after is False
    m.reply(reply(out.command.id), 1.1)
    (out,) = m.press(PadButton.TRANSFER, 2.0, long=True)
    assert out.command.return_after is True


def test_pause_button_pauses_then_resumes_and_long_press_signs_out() -> None:
    m = pad()
    (out,) = m.press(PadButton.PAUSE, 1.0)
    assert out.command.action is CounterAction.PAUSE and out.command.pause_reason
    m.reply(reply(out.command.id, counter=state("paused", seq=2)), 1.1)
    (nxt,) = m.press(PadButton.NEXT, 1.2)  # next during a break ends it (the server resumes)
    assert nxt.command.action is CounterAction.NEXT
    m.reply(reply(nxt.command.id, "empty", counter=state("idle", seq=3)), 1.3)
    m.reply(reply("x", counter=state("paused", seq=4)), 1.4)
    (out,) = m.press(PadButton.PAUSE, 2.0)
    assert out.command.action is CounterAction.RESUME
    m.reply(reply(out.command.id), 2.1)
    (out,) = m.press(PadButton.PAUSE, 3.0, long=True)
    assert out.command.action is CounterAction.SIGN_OUT


def test_long_press_on_next_starts_serving_the_called_visitor() -> None:
    m = pad()
    m.server_state(state("calling", label="A-012", seq=2))
    (out,) = m.press(PadButton.NEXT, 1.0, long=True)
    assert out.command.action is CounterAction.START


def test_a_rating_names_the_finished_ticket_and_the_operator_and_may_wait_in_the_outbox() -> None:
    m = pad()
    m.server_state(state("idle", rateable="t12", seq=2))
    m.link(False, 1.0)  # ratings do not need the link
    (out,) = m.rate(1, 1.0)
    assert out.durable
    c = out.command
    assert (c.action, c.ticket_id, c.score, c.operator) == (CounterAction.RATE, "t12", 1, "olena")


def test_a_ticket_is_rated_once_from_the_pad() -> None:
    m = pad()
    m.server_state(state("idle", rateable="t12", seq=2))
    assert len(m.rate(2, 1.0)) == 1
    assert m.rate(1, 1.5) == [] and m.message == "nothing_to_rate"


def test_rating_with_nothing_finished_is_refused() -> None:
    m = pad()
    assert m.rate(3, 1.0) == []


def test_the_rating_row_size_is_configurable() -> None:
    m = pad(rating_buttons=5)
    m.server_state(state("idle", rateable="t12", seq=2))
    assert m.rate(5, 1.0)[0].command.score == 5
    with pytest.raises(ValueError):
        m.rate(6, 1.0)
