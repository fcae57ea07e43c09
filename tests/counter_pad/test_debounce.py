"""Debounce and long-press with injected contact bounce (gpiozero's mock pins do not bounce)."""

from __future__ import annotations

import pytest

from cherga.counter_pad.debounce import ButtonEvent, DebouncedButton

P, R, C, L = ButtonEvent.PRESS, ButtonEvent.RELEASE, ButtonEvent.CLICK, ButtonEvent.LONG


def run(button: DebouncedButton, edges: list[tuple[float, bool]], until: float, step: float = 0.005) -> list[tuple[float, ButtonEvent]]:
    """Feed raw edges and poll every ``step`` seconds, as the pad's loop does; events with their time."""
    out: list[tuple[float, ButtonEvent]] = []
    pending = sorted(edges)
    t = 0.0
    while t <= until + 1e-9:
        while pending and pending[0][0] <= t:
            at, level = pending.pop(0)
            out += [(at, e) for e in button.feed(level, at)]
        out += [(t, e) for e in button.poll(t)]
        t = round(t + step, 6)
    return out


def bouncy(start: float, level: bool, n: int = 6, gap: float = 0.0008) -> list[tuple[float, bool]]:
    """A contact that chatters ``n`` times before settling at ``level``."""
    return [(start + i * gap, level if i % 2 == 0 else not level) for i in range(n)] + [(start + n * gap, level)]


def test_a_bouncing_press_and_release_count_as_one_click() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    events = run(b, bouncy(0.1, True) + bouncy(0.4, False), until=0.6)
    assert [e for _, e in events] == [P, R, C]


def test_the_press_is_confirmed_within_the_bounce_window_after_the_contact_settles() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=None)
    edges = bouncy(0.1, True)
    events = run(b, edges, until=0.3, step=0.001)
    settled = edges[-1][0]
    (at, event), = events
    assert event is P and settled + 0.02 <= at <= settled + 0.022


def test_a_short_glitch_is_not_a_press() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    events = run(b, [(0.1, True), (0.105, False)], until=0.5)
    assert events == []


def test_bounce_on_release_does_not_make_a_second_press() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    # Release with long chatter (each gap shorter than the bounce window) after a clean press.
    edges = [(0.1, True)] + bouncy(0.3, False, n=20, gap=0.004)
    events = [e for _, e in run(b, edges, until=0.6)]
    assert events.count(P) == 1 and events.count(C) == 1


def test_holding_the_button_fires_one_long_press_and_no_click() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    events = run(b, bouncy(0.1, True) + bouncy(2.5, False), until=3.0)
    assert [e for _, e in events] == [P, L, R]
    long_at = next(t for t, e in events if e is L)
    assert 1.1 <= long_at <= 1.12  # counted from the moment the contact settled down


def test_releasing_just_before_the_long_press_time_is_a_click() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    events = run(b, [(0.0, True), (0.99, False)], until=1.5, step=0.05)
    assert [e for _, e in events] == [P, R, C]


def test_two_quick_deliberate_presses_are_two_clicks() -> None:
    b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    edges = bouncy(0.1, True) + bouncy(0.2, False) + bouncy(0.3, True) + bouncy(0.4, False)
    assert [e for _, e in run(b, edges, until=0.6)] == [P, R, C, P, R, C]


def test_nonsense_timings_are_refused() -> None:
    with pytest.raises(ValueError):
        DebouncedButton(bounce_s=0.05, long_press_s=0.01)
    with pytest.raises(ValueError):
        DebouncedButton(bounce_s=-1)
