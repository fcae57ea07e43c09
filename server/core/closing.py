"""The office's rule for visitors still waiting at closing time (``closing.waiting_at_close``).

``serve_all``: desks call everybody who holds a ticket, however long after closing. ``stop``: no
call is made from ``stop_after_min`` minutes after the service's last opening range of the day
ends; the visitors left are told to book instead (hall display, live status). Pure: the caller
passes the day's opening ranges as aware datetimes and ``now``; no clock, no configuration object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

Rule = Literal["serve_all", "stop"]


def closing_time(ranges: Iterable[tuple[dt.datetime, dt.datetime]]) -> dt.datetime | None:
    """When the day's opening ends: the end of its last range (None on a day the service is closed)."""
    ends = [end for _, end in ranges]
    return max(ends) if ends else None


def calls_stop_at(ranges: Iterable[tuple[dt.datetime, dt.datetime]], *, rule: Rule,
                  stop_after_min: int) -> dt.datetime | None:
    """The moment from which no call is made today under ``rule`` (None: calls never stop today)."""
    closes = closing_time(ranges)
    if rule != "stop" or closes is None:
        return None
    return closes + dt.timedelta(minutes=stop_after_min)


def calls_stopped(ranges: Iterable[tuple[dt.datetime, dt.datetime]], now: dt.datetime, *, rule: Rule,
                  stop_after_min: int) -> bool:
    """Does ``rule`` forbid calling a visitor of this service at ``now``?"""
    stop = calls_stop_at(ranges, rule=rule, stop_after_min=stop_after_min)
    return stop is not None and now >= stop
