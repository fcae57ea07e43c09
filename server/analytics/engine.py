"""The report engine's single pass: the event log folded into mergeable hourly cells.

:func:`fold` reads events in time order once and returns :class:`Cell` objects keyed by
:class:`CellKey` ``(office, local day, local hour, service, counter, operator)``. Every report
(:mod:`server.analytics.report`) is a grouping of these cells, and the daily aggregate table
stores exactly these cells, so reports built from pruned (aggregated) days and from raw events
are the same numbers.

Definitions (what a manager reads):

* **issued**: tickets issued (an ``issued`` event), counted in the hour of issue.
* **served**: finished visits at a counter (``finished``). A ticket transferred from one counter
  to another and served at both counts once at each counter.
* **no-shows**, **cancelled**, **transferred**: events of those kinds.
* **wait**: from joining the queue (issue, transfer, return to the first counter; for a booked
  visitor who checked in early, the booked slot) to the next call. A visitor sent away
  (postponed) starts no new wait. Waits are counted in the hour and at the counter of the call.
* **service time**: from ``started`` (or the call, when the visit had no explicit start) to
  ``finished``.
* **busy**: a counter's time from a call to the visit's end (finished, no-show, transfer,
  postponement, cancellation). **open**: time an operator was signed in at the counter.
  **pause**: paused time, by reason. **idle** = open − pause − busy.
* **ratings**: counts per score (1 = best face), credited to the visit the ticket had last.
* **punctuality**: for booked visitors, check-in time minus the booked slot.

Intervals (busy, open, pause) are split across the hours they cover, on UTC hour boundaries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from server.analytics.records import EventRecord, parse_time
from server.core.tickets import EventKind

HOUR = dt.timedelta(hours=1)


class CellKey(NamedTuple):
    office: str
    day: dt.date  # local to the office
    hour: int  # local hour of day, 0..23
    service: str | None
    counter: str | None
    operator: str | None


@dataclasses.dataclass(slots=True)
class Cell:
    """What happened in one hour, for one service at one counter with one operator (mergeable)."""

    issued: int = 0
    booked: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    transferred: int = 0
    waits: list[float] = dataclasses.field(default_factory=list)  # seconds
    services: list[float] = dataclasses.field(default_factory=list)  # seconds
    punctuality: list[float] = dataclasses.field(default_factory=list)  # seconds late (negative: early)
    ratings: Tally[int] = dataclasses.field(default_factory=Tally)
    busy_s: float = 0.0
    open_s: float = 0.0
    pauses: dict[str, float] = dataclasses.field(default_factory=dict)  # reason -> seconds
    pause_count: Tally[str] = dataclasses.field(default_factory=Tally)  # reason -> times

    def merge(self, other: Cell) -> None:
        self.issued += other.issued
        self.booked += other.booked
        self.served += other.served
        self.no_show += other.no_show
        self.cancelled += other.cancelled
        self.transferred += other.transferred
        self.waits.extend(other.waits)
        self.services.extend(other.services)
        self.punctuality.extend(other.punctuality)
        self.ratings.update(other.ratings)
        self.busy_s += other.busy_s
        self.open_s += other.open_s
        for reason, seconds in other.pauses.items():
            self.pauses[reason] = self.pauses.get(reason, 0.0) + seconds
        self.pause_count.update(other.pause_count)

    def to_json(self) -> dict[str, object]:
        """A compact, JSON-ready form for the daily aggregate table (no ticket ids, no names)."""
        out: dict[str, object] = {}
        for name in ("issued", "booked", "served", "no_show", "cancelled", "transferred"):
            value = getattr(self, name)
            if value:
                out[name] = value
        for name in ("waits", "services", "punctuality"):
            values = getattr(self, name)
            if values:
                out[name] = [round(v, 1) for v in values]
        if self.ratings:
            out["ratings"] = {str(k): v for k, v in self.ratings.items()}
        if self.busy_s:
            out["busy_s"] = round(self.busy_s, 1)
        if self.open_s:
            out["open_s"] = round(self.open_s, 1)
        if self.pauses:
            out["pauses"] = {k: round(v, 1) for k, v in self.pauses.items()}
            out["pause_count"] = dict(self.pause_count)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        def mapping(name: str) -> Mapping[str, Any]:
            value = data.get(name) or {}
            return value if isinstance(value, Mapping) else {}

        return cls(
            issued=int(data.get("issued", 0)), booked=int(data.get("booked", 0)),
            served=int(data.get("served", 0)), no_show=int(data.get("no_show", 0)),
            cancelled=int(data.get("cancelled", 0)), transferred=int(data.get("transferred", 0)),
            waits=[float(v) for v in data.get("waits", [])],
            services=[float(v) for v in data.get("services", [])],
            punctuality=[float(v) for v in data.get("punctuality", [])],
            ratings=Tally({int(k): int(v) for k, v in mapping("ratings").items()}),
            busy_s=float(data.get("busy_s", 0.0)), open_s=float(data.get("open_s", 0.0)),
            pauses={str(k): float(v) for k, v in mapping("pauses").items()},
            pause_count=Tally({str(k): int(v) for k, v in mapping("pause_count").items()}),
        )


Cells = dict[CellKey, Cell]


@dataclasses.dataclass(slots=True)
class _Track:
    """A ticket's progress through the pass (only what the reports need)."""

    service: str | None
    queued_at: dt.datetime | None = None  # when the current wait started; None: no wait counts
    called_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    counter: str | None = None
    operator: str | None = None
    last: tuple[str | None, str | None, str | None] | None = None  # (service, counter, operator) served last


@dataclasses.dataclass(slots=True)
class _Desk:
    """A counter's session: who is signed in since when, and a running pause."""

    operator: str | None = None
    signed_in_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    pause_reason: str = ""


class _Folder:
    def __init__(self, tz: ZoneInfo, office: str) -> None:
        self.tz = tz
        self.office = office
        self.cells: Cells = {}
        self.tickets: dict[str, _Track] = {}
        self.desks: dict[tuple[str, str], _Desk] = {}
        self._local: dict[dt.datetime, tuple[dt.date, int]] = {}

    # --- cells --------------------------------------------------------------------------------
    def _slot(self, at: dt.datetime) -> tuple[dt.datetime, tuple[dt.date, int]]:
        hour = at.replace(minute=0, second=0, microsecond=0)
        local = self._local.get(hour)
        if local is None:
            lt = hour.astimezone(self.tz)
            local = (lt.date(), lt.hour)
            self._local[hour] = local
        return hour, local

    def cell(self, office: str, at: dt.datetime, service: str | None, counter: str | None,
             operator: str | None) -> Cell:
        _, (day, hour) = self._slot(at)
        key = CellKey(office or self.office, day, hour, service, counter, operator)
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = Cell()
        return found

    def spread(self, office: str, start: dt.datetime, end: dt.datetime, service: str | None,
               counter: str | None, operator: str | None, field: str, reason: str | None = None) -> None:
        """Add the seconds of ``start..end`` to ``field`` of the cells of every hour it covers."""
        if end <= start:
            return
        cursor = start
        while cursor < end:
            hour, _ = self._slot(cursor)
            stop = min(end, hour + HOUR)
            seconds = (stop - cursor).total_seconds()
            cell = self.cell(office, cursor, service, counter, operator)
            if reason is None:
                setattr(cell, field, getattr(cell, field) + seconds)
            else:
                cell.pauses[reason] = cell.pauses.get(reason, 0.0) + seconds
            cursor = stop

    # --- the pass -----------------------------------------------------------------------------
    def track(self, ev: EventRecord) -> _Track:
        tid = ev.ticket_id or ""
        found = self.tickets.get(tid)
        if found is None:  # issued before the range: no wait is known for its current queueing
            found = self.tickets[tid] = _Track(service=ev.service)
        return found

    def end_visit(self, ev: EventRecord, t: _Track) -> None:
        """The counter stops being busy with this ticket."""
        if t.called_at is not None:
            self.spread(ev.office, t.called_at, ev.at, t.service, t.counter, t.operator, "busy_s")
        t.called_at = None
        t.started_at = None

    def apply(self, ev: EventRecord) -> None:
        kind = ev.kind
        if kind == EventKind.ISSUED:
            t = self.tickets[ev.ticket_id or ""] = _Track(service=ev.service, queued_at=ev.at)
            cell = self.cell(ev.office, ev.at, ev.service, None, None)
            cell.issued += 1
            slot = parse_time(ev.data.get("appointment_at"))
            if ev.data.get("origin") == "booked" or slot is not None:
                cell.booked += 1
                if slot is not None:
                    cell.punctuality.append((ev.at - slot).total_seconds())
                    t.queued_at = max(ev.at, slot)
        elif kind == EventKind.CALLED:
            t = self.track(ev)
            if t.service is None:
                t.service = ev.service
            if t.called_at is not None:  # called again without an end (should not happen): close it
                self.end_visit(ev, t)
            t.counter, t.operator, t.called_at, t.started_at = ev.counter, ev.operator, ev.at, None
            if t.queued_at is not None:
                cell = self.cell(ev.office, ev.at, t.service, ev.counter, ev.operator)
                cell.waits.append(max(0.0, (ev.at - t.queued_at).total_seconds()))
                t.queued_at = None
        elif kind == EventKind.STARTED:
            self.track(ev).started_at = ev.at
        elif kind == EventKind.FINISHED:
            t = self.track(ev)
            counter, operator = t.counter or ev.counter, t.operator or ev.operator
            cell = self.cell(ev.office, ev.at, t.service, counter, operator)
            cell.served += 1
            begun = t.started_at or t.called_at
            if begun is not None:
                cell.services.append(max(0.0, (ev.at - begun).total_seconds()))
            t.last = (t.service, counter, operator)
            self.end_visit(ev, t)
        elif kind == EventKind.NO_SHOW:
            t = self.track(ev)
            self.cell(ev.office, ev.at, t.service, t.counter or ev.counter, t.operator or ev.operator).no_show += 1
            self.end_visit(ev, t)
            t.queued_at = None
        elif kind == EventKind.CANCELLED:
            t = self.track(ev)
            self.cell(ev.office, ev.at, t.service, t.counter, t.operator).cancelled += 1
            self.end_visit(ev, t)
            t.queued_at = None
        elif kind == EventKind.TRANSFERRED:
            t = self.track(ev)
            self.cell(ev.office, ev.at, t.service, t.counter or ev.counter, t.operator or ev.operator).transferred += 1
            self.end_visit(ev, t)
            t.service = ev.data.get("to_service") or ev.service or t.service
            t.queued_at = ev.at
            t.counter = t.operator = None
        elif kind == EventKind.RETURNED:
            t = self.track(ev)
            t.service = ev.data.get("service") or ev.service or t.service
            t.queued_at = ev.at
        elif kind == EventKind.POSTPONED:
            t = self.track(ev)
            self.end_visit(ev, t)
            t.queued_at = None  # sent away on purpose: the time away is not a wait
        elif kind == EventKind.RATED:
            rated = self.tickets.get(ev.ticket_id or "")
            service, counter, operator = (rated.last if rated and rated.last else (ev.service, ev.counter, ev.operator))
            score = ev.data.get("score")
            if score is not None:
                self.cell(ev.office, ev.at, service, counter, operator).ratings[int(score)] += 1
        elif kind == EventKind.OPERATOR_SIGNED_IN:
            desk = self.desk(ev)
            self.close_session(ev, desk)
            desk.operator, desk.signed_in_at = ev.operator, ev.at
        elif kind == EventKind.OPERATOR_SIGNED_OUT:
            self.close_session(ev, self.desk(ev))
        elif kind == EventKind.COUNTER_PAUSED:
            desk = self.desk(ev)
            if desk.paused_at is None:
                desk.paused_at = ev.at
                desk.pause_reason = str(ev.data.get("reason") or ev.data.get("pause_reason") or "")
                self.cell(ev.office, ev.at, None, ev.counter, desk.operator or ev.operator).pause_count[
                    desk.pause_reason] += 1
        elif kind == EventKind.COUNTER_RESUMED:
            self.close_pause(ev, self.desk(ev))

    def desk(self, ev: EventRecord) -> _Desk:
        key = (ev.office, ev.counter or "")
        found = self.desks.get(key)
        if found is None:
            found = self.desks[key] = _Desk(operator=ev.operator)
        return found

    def close_pause(self, ev: EventRecord, desk: _Desk) -> None:
        if desk.paused_at is not None:
            self.spread(ev.office, desk.paused_at, ev.at, None, ev.counter, desk.operator or ev.operator,
                        "pauses", reason=desk.pause_reason)
            desk.paused_at = None

    def close_session(self, ev: EventRecord, desk: _Desk) -> None:
        self.close_pause(ev, desk)
        if desk.signed_in_at is not None:
            self.spread(ev.office, desk.signed_in_at, ev.at, None, ev.counter, desk.operator, "open_s")
        desk.signed_in_at = None

    def finish(self, until: dt.datetime | None) -> None:
        """Close what is still running at ``until`` (the end of the range): sessions, pauses, visits."""
        if until is None:
            return
        for (office, counter), desk in self.desks.items():
            end = EventRecord(kind="end", at=until, office=office, counter=counter, operator=desk.operator)
            self.close_session(end, desk)
        for t in self.tickets.values():
            if t.called_at is not None and t.called_at < until:
                self.spread(self.office, t.called_at, until, t.service, t.counter, t.operator, "busy_s")


def fold(events: Iterable[EventRecord], *, tz: ZoneInfo | str = "UTC", office: str = "",
         until: dt.datetime | None = None) -> Cells:
    """Fold events (in time order) into hourly cells in the office's local time.

    ``until`` closes sessions, pauses and visits still running at the end of the range; without it
    they are left out (a report of a past month passes the month's end).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    folder = _Folder(zone, office)
    for ev in events:
        folder.apply(ev)
    folder.finish(until)
    return folder.cells


def merge_cells(*parts: Cells) -> Cells:
    """Combine cells from several sources (aggregate rows and raw events of other days)."""
    out: Cells = {}
    for part in parts:
        for key, cell in part.items():
            found = out.get(key)
            if found is None:
                out[key] = found = Cell()
            found.merge(cell)
    return out
