"""The days Cherga deals in: dates and times from outside must fall between :data:`FIRST_DAY` and
:data:`LAST_DAY`.

Python's dates end at years 1 and 9999; a day's local midnight, the next day or a time zone
shift of a date at either end overflows. Every date and time a request brings is checked against
this range where it comes in (the API's types :data:`Day` and :data:`Moment`, the pages' own
checks through :func:`day_in_range`), so no arithmetic inside ever comes near those ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
RANGE_TEXT = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def day_in_range(day: dt.date) -> bool:
    """Whether ``day`` (or the calendar day of a date-time, in its own offset) is one Cherga accepts."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return FIRST_DAY <= day <= LAST_DAY


def _checked_day(day: dt.date) -> dt.date:
    if not day_in_range(day):
        raise ValueError(f"the date must be {RANGE_TEXT}")
    return day


def _checked_moment(moment: dt.datetime) -> dt.datetime:
    if not day_in_range(moment):
        raise ValueError(f"the time must be {RANGE_TEXT}")
    return moment


#: a date from a request (query parameter or body field), within the range
Day = Annotated[dt.date, AfterValidator(_checked_day)]
#: a date and time from a request, within the range
Moment = Annotated[dt.datetime, AfterValidator(_checked_moment)]
