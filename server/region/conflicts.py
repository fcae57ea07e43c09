"""Bookings that two offices both acted on, found in the region's event log (issue 21).

A citizen books at the home office, then is served at the mobile office (which carried a copy of
home's bookings, :mod:`cherga.server.region.mobile`), while home still holds the slot, marks it
missed, or checks the same code in again. Neither office could know at the time; once both logs are
in the region's database this report lists each such booking code with what happened at each office.

Pure: it reads event dicts (``seq``, ``kind``, ``office``, ``ticket_id``, ``at``, ``data``, as
``Store.events`` returns them) and returns :class:`BookingConflict` rows. It names tickets by label
and bookings by code, never a person.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

#: The events the report reads (the adapter may select only these).
KINDS = ("issued", "booking_missed", "called", "started", "finished", "no_show", "cancelled", "transferred")
# What became of a checked-in ticket, by the last of these events it had (later wins).
_OUTCOME = {"issued": "waiting", "called": "called", "started": "serving", "transferred": "transferred",
            "finished": "served", "no_show": "no_show", "cancelled": "cancelled"}


@dataclasses.dataclass(frozen=True)
class OfficeAct:
    """What one office did with the booking code."""

    office: str
    what: str  # checked_in | missed
    at: dt.datetime
    ticket: str | None = None  # the ticket's label ("A-012") for a check-in
    outcome: str | None = None  # waiting | called | serving | served | no_show | cancelled | transferred


@dataclasses.dataclass(frozen=True)
class BookingConflict:
    code: str
    booked_at: str | None  # the office the booking belongs to, when an event says so
    slot: str | None  # the booked slot (ISO), as the events carry it
    acts: tuple[OfficeAct, ...]  # in the order they happened
    why: str  # served_elsewhere | checked_in_twice

    def line(self) -> str:
        """One line for a terminal: code, where it was booked, then each office's act."""
        parts = []
        for a in self.acts:
            what = f"checked in as {a.ticket} ({a.outcome})" if a.what == "checked_in" else "marked missed"
            parts.append(f"{a.office}: {what} at {a.at.isoformat(timespec='minutes')}")
        booked = f"booked at {self.booked_at}" if self.booked_at else "booked"
        slot = f" for {self.slot}" if self.slot else ""
        return f"{self.code} ({booked}{slot}; {self.why.replace('_', ' ')}): " + "; ".join(parts)


def _at(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def find_conflicts(events: Iterable[Mapping[str, Any]]) -> list[BookingConflict]:
    """Each booking code used at an office other than its own, or at two offices, with every act on it.

    * ``served_elsewhere``: a check-in whose event names another office as the booking's home
      (``booked_at``), whatever home did (held the slot, marked it missed, or nothing uploaded yet).
    * ``checked_in_twice``: the same code checked in at two offices (whichever was its home).
    A code used at its own office only, however often it was missed there, is no conflict.
    """
    acts: dict[str, list[OfficeAct]] = {}
    booked_at: dict[str, str] = {}
    slots: dict[str, str] = {}
    by_ticket: dict[tuple[str, str], str] = {}  # (office, ticket id) -> code, for the outcome
    outcome: dict[tuple[str, str], str] = {}
    checkin: dict[tuple[str, str], tuple[str, int]] = {}  # (office, ticket id) -> (code, index in acts[code])
    for e in sorted(events, key=lambda e: (_at(e["at"]), e.get("seq") or 0)):
        kind, office, data = str(e["kind"]), str(e["office"]), dict(e.get("data") or {})
        ticket = e.get("ticket_id")
        if kind == "issued" and data.get("appointment"):
            code = str(data["appointment"])
            if data.get("booked_at"):
                booked_at[code] = str(data["booked_at"])
            if data.get("slot"):
                slots.setdefault(code, str(data["slot"]))
            acts.setdefault(code, []).append(OfficeAct(office, "checked_in", _at(e["at"]), data.get("label")))
            if ticket:
                by_ticket[(office, str(ticket))] = code
                checkin[(office, str(ticket))] = (code, len(acts[code]) - 1)
        elif kind == "booking_missed" and data.get("code"):
            code = str(data["code"])
            booked_at.setdefault(code, office)  # the sweep runs only at the booking's own office
            if data.get("slot"):
                slots.setdefault(code, str(data["slot"]))
            acts.setdefault(code, []).append(OfficeAct(office, "missed", _at(e["at"])))
        if ticket and kind in _OUTCOME and (office, str(ticket)) in by_ticket:
            outcome[(office, str(ticket))] = _OUTCOME[kind]
    for key, (code, i) in checkin.items():
        acts[code][i] = dataclasses.replace(acts[code][i], outcome=outcome.get(key, "waiting"))
    out = []
    for code, done in acts.items():
        checked = [a.office for a in done if a.what == "checked_in"]
        home = booked_at.get(code)
        if home is not None and any(o != home for o in checked):
            why = "served_elsewhere"
        elif len(set(checked)) > 1:
            why = "checked_in_twice"
        else:
            continue
        out.append(BookingConflict(code, home, slots.get(code), tuple(done), why))
    return sorted(out, key=lambda c: (c.acts[0].at, c.code))
