"""Bookable slots: which appointment times a service offers on a day and which are still free.

Pure: the opening hours, the slot grid and the bookings already taken come in; the clock is passed.
A slot is offered when the office (or the service's own hours) is open for the whole slot, so a
visitor is never booked into a break or past closing. The grid starts at local midnight, so slots
fall on the same clock times every day (09:00, 09:15, ...), the way visitors read them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from cherga.server.siteconfig import Hours


@dataclasses.dataclass(frozen=True, slots=True)
class Slot:
    start: dt.datetime  # aware, in the office's time zone
    free: int  # places left


class SlotRefused(Exception):
    """A booking request for a time that is not a free slot; ``reason`` is a short key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def day_grid(hours: Hours, day: dt.date, tz: ZoneInfo, slot_min: int) -> list[dt.datetime]:
    """Slot starts of ``day`` during which the office is open for the whole slot."""
    out: list[dt.datetime] = []
    step = dt.timedelta(minutes=slot_min)
    minute = dt.timedelta(minutes=1)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    t = start
    while t.date() == day:
        # Opening hours are in whole minutes: checking each minute of the slot is exact.
        if all(hours.is_open(t + k * minute) for k in range(slot_min)):
            out.append(t)
        t += step
    return out


def free_slots(grid: list[dt.datetime], taken: Mapping[dt.datetime, int], capacity: int,
               now: dt.datetime) -> list[Slot]:
    """The grid's slots still in the future with a place left."""
    return [Slot(s, capacity - taken.get(s, 0)) for s in grid if s > now and taken.get(s, 0) < capacity]


def check_slot(slot: dt.datetime, *, hours: Hours, tz: ZoneInfo, slot_min: int, capacity: int, taken: int,
               now: dt.datetime, horizon_days: int) -> None:
    """Raise :class:`SlotRefused` unless ``slot`` may be booked now."""
    if slot.tzinfo is None:
        raise SlotRefused("naive_time", "slot needs a time zone")
    local = slot.astimezone(tz)
    if capacity <= 0:
        raise SlotRefused("booking_closed", "this service takes no bookings")
    if slot <= now:
        raise SlotRefused("slot_in_past", "an appointment slot must be in the future")
    if local.date() > now.astimezone(tz).date() + dt.timedelta(days=horizon_days):
        raise SlotRefused("slot_too_far", f"slots can be booked up to {horizon_days} days ahead")
    if local not in day_grid(hours, local.date(), tz, slot_min):
        raise SlotRefused("not_a_slot", f"{local:%Y-%m-%d %H:%M} is not a bookable slot "
                                        f"(every {slot_min} min while the office is open)")
    if taken >= capacity:
        raise SlotRefused("slot_full", f"the {local:%H:%M} slot is fully booked")
