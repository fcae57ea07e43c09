"""The pad's pause button gives the reason its node config offers, else a break; the contract knows no others."""

from __future__ import annotations

import pydantic
import pytest

from cherga.broker_bridge.contract import CounterAction, CounterCommand, PauseReason
from cherga.counter_pad.machine import PadButton, PadMachine
from tests.counter_pad.helpers import T0, state


def pad(**kw: object) -> PadMachine:
    m = PadMachine(node="pad-c1", counter="c1", wall=lambda: T0, **kw)  # type: ignore[arg-type]
    m.link(True, 0.0)
    m.server_state(state("idle"))
    return m


def test_the_pause_button_gives_a_break_unless_the_pad_is_configured_otherwise() -> None:
    (out,) = pad().press(PadButton.PAUSE, 1.0)
    assert out.command.action is CounterAction.PAUSE and out.command.pause_reason is PauseReason.BREAK
    (out,) = pad(pause_reason="training").press(PadButton.PAUSE, 1.0)
    assert out.command.pause_reason is PauseReason.TRAINING


def test_a_pause_reason_outside_the_list_is_refused() -> None:
    with pytest.raises(ValueError):
        pad(pause_reason="nap")
    with pytest.raises(pydantic.ValidationError):
        CounterCommand.model_validate({"id": "x", "node": "pad-c1", "ts": T0.isoformat(), "action": "pause",
                                       "pause_reason": "nap"})
