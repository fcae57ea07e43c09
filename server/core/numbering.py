"""Ticket numbers: prefix + 1..999 per service per office day, in separate ranges for walk-ins,
booked visitors and numbers a kiosk issues while the server is unreachable.

The daily reset is a new (service, day, range) key: earlier days keep their numbers untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from cherga.server.siteconfig import NumberRange


class NumbersExhausted(Exception):
    def __init__(self, service: str, number_range: NumberRange) -> None:
        super().__init__(f"no numbers left today for {service} in {number_range.first}..{number_range.last}")
        self.reason = "numbers_exhausted"


def office_day(now: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The office's calendar day at ``now`` (numbers and caps reset at local midnight)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def next_number(last_issued: int | None, number_range: NumberRange, service: str) -> int:
    """The number after ``last_issued`` in ``number_range`` (``None``: none issued yet today)."""
    if last_issued is None or last_issued < number_range.first:
        return number_range.first
    if last_issued >= number_range.last:
        raise NumbersExhausted(service, number_range)
    return last_issued + 1


def booked_draw_order(on_time: bool) -> tuple[str, str]:
    """The ranges a booked visitor's number comes from, in order: a visitor with a booking is never
    refused a number. On time: the booked range, then the walk-in range; late (checked in as a
    walk-in): the walk-in range, then the booked range. The site config check makes the booked range
    hold a day's full bookings (:meth:`SiteConfig.bookings_per_day`), and only booked visitors draw
    from it, so the second range always has room even when walk-ins took every walk-in number."""
    return ("booked", "walk_in") if on_time else ("walk_in", "booked")


def split_offline_range(number_range: NumberRange, kiosk_ids: list[str]) -> Mapping[str, NumberRange]:
    """Give each kiosk its own slice of the offline range, so two offline kiosks never clash."""
    kiosks = sorted(kiosk_ids)
    if not kiosks:
        return {}
    size = (number_range.last - number_range.first + 1) // len(kiosks)
    if size < 1:
        raise ValueError(f"offline range {number_range.first}..{number_range.last} is too small for {len(kiosks)} kiosks")
    out = {}
    for i, k in enumerate(kiosks):
        first = number_range.first + i * size
        last = number_range.last if i == len(kiosks) - 1 else first + size - 1
        out[k] = NumberRange(first=first, last=last)
    return out
