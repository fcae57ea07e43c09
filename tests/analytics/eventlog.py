"""A small, hand-computed event log of one morning at the demo office (Kyiv time), shared by the tests.

Olena works counter c1 from 09:00 to 10:00 with a 15-minute break at 09:41; Taras works c2 from
09:00 to 10:30. Six tickets: three for passports, two for residence (one transferred to passports,
one cancelled) and one booked notary visit. The numbers the tests expect are worked out in the
docstrings of the tests that use them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from cherga.server.analytics.records import EventRecord

KYIV = ZoneInfo("Europe/Kyiv")
DAY = dt.date(2026, 11, 2)  # a Monday; Kyiv is UTC+2 then


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, m, tzinfo=KYIV).astimezone(dt.UTC)


def ev(kind: str, hhmm: str, ticket: str | None = None, service: str | None = None, counter: str | None = None,
       operator: str | None = None, day: dt.date = DAY, office: str = "demo", **data: Any) -> EventRecord:
    return EventRecord(kind=kind, at=at(hhmm, day), ticket_id=ticket, office=office, service=service,
                       counter=counter, operator=operator, data=data)


def morning(day: dt.date = DAY, office: str = "demo") -> list[EventRecord]:
    o: dict[str, Any] = {"day": day, "office": office}
    p, r, n = "passport", "residence", "notary"
    t = f"{office}-{day.isoformat()}-"
    events = [
        ev("operator_signed_in", "09:00", counter="c1", operator="olena", **o),
        ev("operator_signed_in", "09:00", counter="c2", operator="taras", **o),
        ev("issued", "09:00", t + "A1", p, origin="walk_in", **o),
        ev("issued", "09:02", t + "A2", p, origin="walk_in", **o),
        ev("issued", "09:04", t + "A3", p, origin="walk_in", **o),
        ev("called", "09:05", t + "A1", p, "c1", "olena", **o),
        ev("started", "09:06", t + "A1", p, "c1", "olena", **o),
        ev("issued", "09:10", t + "C1", r, origin="walk_in", **o),
        ev("called", "09:12", t + "C1", r, "c2", "taras", **o),
        ev("started", "09:12", t + "C1", r, "c2", "taras", **o),
        ev("finished", "09:16", t + "A1", p, "c1", "olena", **o),
        ev("rated", "09:17", t + "A1", p, "c1", "olena", score=1, **o),
        ev("called", "09:20", t + "A2", p, "c1", "olena", **o),
        ev("transferred", "09:20", t + "C1", r, "c2", "taras", to_service=p, **o),
        ev("started", "09:21", t + "A2", p, "c1", "olena", **o),
        ev("called", "09:24", t + "A3", p, "c2", "taras", **o),
        ev("no_show", "09:27", t + "A3", p, "c2", "taras", **o),
        ev("issued", "09:30", t + "C2", r, origin="walk_in", **o),
        ev("finished", "09:33", t + "A2", p, "c1", "olena", **o),
        ev("rated", "09:33", t + "A2", p, "c1", "olena", score=2, **o),
        ev("called", "09:33", t + "C1", p, "c1", "olena", **o),
        ev("started", "09:33", t + "C1", p, "c1", "olena", **o),
        ev("cancelled", "09:40", t + "C2", r, **o),
        ev("finished", "09:41", t + "C1", p, "c1", "olena", **o),
        ev("counter_paused", "09:41", counter="c1", operator="olena", reason="break", **o),
        ev("rated", "09:42", t + "C1", p, "c1", None, score=1, **o),
        ev("issued", "09:50", t + "N1", n, origin="booked", slot=at("10:00", day).isoformat(), check_in="on_time",
           **o),
        ev("counter_resumed", "09:56", counter="c1", operator="olena", **o),
        ev("operator_signed_out", "10:00", counter="c1", operator="olena", **o),
        ev("called", "10:05", t + "N1", n, "c2", "taras", **o),
        ev("started", "10:05", t + "N1", n, "c2", "taras", **o),
        ev("finished", "10:25", t + "N1", n, "c2", "taras", **o),
        ev("operator_signed_out", "10:30", counter="c2", operator="taras", **o),
    ]
    return events
