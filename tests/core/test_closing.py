"""The office's rule for visitors still waiting at closing (pure core, the clock passed in)."""

from __future__ import annotations

import datetime as dt

from cherga.server.core.closing import calls_stop_at, calls_stopped, closing_time

KYIV = dt.timezone(dt.timedelta(hours=2))
DAY = [(dt.datetime(2026, 3, 2, 8, 0, tzinfo=KYIV), dt.datetime(2026, 3, 2, 13, 0, tzinfo=KYIV)),
       (dt.datetime(2026, 3, 2, 14, 0, tzinfo=KYIV), dt.datetime(2026, 3, 2, 18, 0, tzinfo=KYIV))]


def at(hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hh, mm, tzinfo=KYIV)


def test_closing_is_the_end_of_the_days_last_opening_not_the_lunch_break() -> None:
    assert closing_time(DAY) == at(18)
    assert closing_time([]) is None


def test_stop_makes_the_last_call_stop_after_min_after_closing() -> None:
    assert calls_stop_at(DAY, rule="stop", stop_after_min=30) == at(18, 30)
    assert not calls_stopped(DAY, at(13, 30), rule="stop", stop_after_min=0)  # the lunch break is not closing
    assert not calls_stopped(DAY, at(18, 29), rule="stop", stop_after_min=30)
    assert calls_stopped(DAY, at(18, 30), rule="stop", stop_after_min=30)


def test_serve_all_never_stops_calls_and_a_closed_day_has_no_last_call() -> None:
    assert calls_stop_at(DAY, rule="serve_all", stop_after_min=30) is None
    assert not calls_stopped(DAY, at(23, 59), rule="serve_all", stop_after_min=0)
    assert not calls_stopped([], at(19), rule="stop", stop_after_min=0)
