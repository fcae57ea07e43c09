"""The report engine's single pass: the event log folded into mergeable hourly cells.

:func:`fold` reads events in time order once and returns :class:`Cell` objects keyed by
:class:`CellKey` ``(office, local day, local hour, service, counter, operator)``. Every report
(:mod:`server.analytics.report`) is a grouping of these cells, and the daily aggregate table
stores exactly these cells, so reports built from pruned (aggregated) days and from raw events
are the same numbers.

Definitions (what a manager reads):

* **issued**: tickets issued (an ``issued`` event), counted in the hour of issue (an offline
  ticket's own ``issued_at``, not the time its kiosk synced it).
* **served**: finished visits at a counter (``finished``). A ticket transferred from one counter
  to another and served at both counts once at each counter.
* **no-shows**, **cancelled**, **transferred**: events of those kinds (a life-situation bundle
  moving on to its next service is no transfer).
* **wait**: from joining the queue (issue, transfer, return to the first counter; for a booked
  visitor who checked in early, the booked slot) to the next call. A visitor sent away
  (postponed) starts no new wait. Waits are counted in the hour and at the counter of the call.
* **service time**: from ``started`` (or the call, when the visit had no explicit start) to
  ``finished``.
* **busy**: a counter's time from a call to the visit's end (finished, no-show, transfer,
  postponement, cancellation). **open**: time an operator was signed in at the counter.
  **pause**: paused time, by reason. **idle** = open − pause − busy.
* **closed by the hall manager** (``counter_closed`` … ``counter_opened``): per counter, the times
  it was closed and the time it stayed closed (the counter's cell, no operator: the operator there
  was signed out, so this time is in nobody's open, pause or idle).
* durations are kept to 0.1 s (so stored cells and a fresh fold agree to the digit).
* **ratings**: counts per score (1 = best face), credited to the visit the ticket had last.
* **punctuality**: for booked visitors, check-in time minus the booked slot.

Intervals (busy, open, pause) are split across the hours they cover, on UTC hour boundaries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from cherga.server.analytics.records import EventRecord, parse_time
from cherga.server.core.tickets import EventKind

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
    ratings: dict[int, int] = dataclasses.field(default_factory=dict)  # score -> count
    busy_s: float = 0.0
    open_s: float = 0.0
    pauses: dict[str, float] = dataclasses.field(default_factory=dict)  # reason -> seconds
    pause_count: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> times
    booked_missed: int = 0  # booked visitors who never checked in (logged when the late grace ran out)
    closed_count: int = 0  # times the hall manager closed the counter
    closed_s: float = 0.0  # seconds the counter stood closed by the hall manager

    def merge(self, other: Cell) -> None:
        self.issued += other.issued
        self.booked += other.booked
        self.served += other.served
        self.no_show += other.no_show
        self.cancelled += other.cancelled
        self.transferred += other.transferred
        self.booked_missed += other.booked_missed
        self.closed_count += other.closed_count
        self.closed_s += other.closed_s
        if other.waits:
            self.waits.extend(other.waits)
        if other.services:
            self.services.extend(other.services)
        if other.punctuality:
            self.punctuality.extend(other.punctuality)
        if other.ratings:
            _add(self.ratings, other.ratings)
        self.busy_s += other.busy_s
        self.open_s += other.open_s
        if other.pauses:
            _add(self.pauses, other.pauses)
        if other.pause_count:
            _add(self.pause_count, other.pause_count)

    def to_row(self) -> list[Any]:
        """The cell as a compact JSON-ready list (the daily aggregate table stores these)."""
        return [self.issued, self.booked, self.served, self.no_show, self.cancelled, self.transferred,
                self.waits, self.services, self.punctuality, sorted(self.ratings.items()), self.busy_s,
                self.open_s, sorted(self.pauses.items()), sorted(self.pause_count.items()), self.booked_missed,
                self.closed_count, self.closed_s]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Cell:
        (issued, booked, served, no_show, cancelled, transferred, waits, services, punctuality, ratings, busy_s,
         open_s, pauses, pause_count) = row[:14]
        # Days stored before a field existed have a shorter row: the field counts nothing there.
        booked_missed = row[14] if len(row) > 14 else 0
        closed_count, closed_s = (row[15], row[16]) if len(row) > 16 else (0, 0.0)
        return cls(issued, booked, served, no_show, cancelled, transferred, waits, services, punctuality,
                   dict(ratings), busy_s, open_s, dict(pauses), dict(pause_count), booked_missed,
                   closed_count, closed_s)


Cells = dict[CellKey, Cell]


def _add(into: dict[Any, Any], other: Mapping[Any, Any]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


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
        self.closed: dict[tuple[str, str], dt.datetime] = {}  # (office, counter) -> closed by the manager at
        self._local: dict[tuple[int, int, int, int], tuple[dt.datetime, tuple[dt.date, int]]] = {}
        self._dispatch = {
            EventKind.ISSUED.value: self.on_issued, EventKind.CALLED.value: self.on_called,
            EventKind.STARTED.value: self.on_started, EventKind.FINISHED.value: self.on_finished,
            EventKind.NO_SHOW.value: self.on_no_show, EventKind.CANCELLED.value: self.on_cancelled,
            EventKind.TRANSFERRED.value: self.on_transferred, EventKind.RETURNED.value: self.on_returned,
            EventKind.POSTPONED.value: self.on_postponed, EventKind.RATED.value: self.on_rated,
            EventKind.OPERATOR_SIGNED_IN.value: self.on_signed_in,
            EventKind.OPERATOR_SIGNED_OUT.value: self.on_signed_out,
            EventKind.COUNTER_PAUSED.value: self.on_paused, EventKind.COUNTER_RESUMED.value: self.on_resumed,
            EventKind.BOOKING_MISSED.value: self.on_booking_missed,
            EventKind.COUNTER_CLOSED.value: self.on_counter_closed,
            EventKind.COUNTER_OPENED.value: self.on_counter_opened,
        }

    # --- cells --------------------------------------------------------------------------------
    def _slot(self, at: dt.datetime) -> tuple[dt.datetime, tuple[dt.date, int]]:
        """The UTC hour containing ``at`` and its local (day, hour); cached (called per event)."""
        utc = at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)
        k = (utc.year, utc.month, utc.day, utc.hour)
        found = self._local.get(k)
        if found is None:
            hour = utc.replace(minute=0, second=0, microsecond=0)
            lt = hour.astimezone(self.tz)
            found = self._local[k] = (hour, (lt.date(), lt.hour))
        return found

    def cell(self, office: str, at: dt.datetime, service: str | None, counter: str | None,
             operator: str | None) -> Cell:
        _, (day, hour) = self._slot(at)
        # A plain tuple hashes and compares like the CellKey it stands for: build the named one only
        # for a new cell (this runs for every event).
        probe = (office or self.office, day, hour, service, counter, operator)
        found = self.cells.get(probe)  # type: ignore[call-overload]
        if found is None:
            found = self.cells[CellKey(*probe)] = Cell()
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
        handler = self._dispatch.get(ev.kind)
        if handler is not None:
            handler(ev)

    def on_issued(self, ev: EventRecord) -> None:
        data = ev.data
        issued = ev.at
        if data.get("issued_at"):  # an offline ticket, logged when the kiosk synced: it queued earlier
            issued = parse_time(data["issued_at"]) or ev.at
        t = self.tickets[ev.ticket_id or ""] = _Track(service=ev.service, queued_at=issued)
        cell = self.cell(ev.office, issued, ev.service, None, None)
        cell.issued += 1
        slot = parse_time(data.get("slot") or data.get("appointment_at"))
        if slot is not None or data.get("origin") == "booked":
            cell.booked += 1
            if slot is not None:
                cell.punctuality.append(round((issued - slot).total_seconds(), 1))
                if data.get("check_in", "on_time") == "on_time":  # a late one queues as a walk-in
                    t.queued_at = max(issued, slot)

    def on_booking_missed(self, ev: EventRecord) -> None:
        self.cell(ev.office, ev.at, ev.service, None, None).booked_missed += 1

    def on_called(self, ev: EventRecord) -> None:
        t = self.track(ev)
        if t.service is None:
            t.service = ev.service
        if t.called_at is not None:  # called again without an end (should not happen): close it
            self.end_visit(ev, t)
        t.counter, t.operator, t.called_at, t.started_at = ev.counter, ev.operator, ev.at, None
        if t.queued_at is not None:
            cell = self.cell(ev.office, ev.at, t.service, ev.counter, ev.operator)
            cell.waits.append(max(0.0, round((ev.at - t.queued_at).total_seconds(), 1)))
            t.queued_at = None

    def on_started(self, ev: EventRecord) -> None:
        self.track(ev).started_at = ev.at

    def on_finished(self, ev: EventRecord) -> None:
        t = self.track(ev)
        counter, operator = t.counter or ev.counter, t.operator or ev.operator
        cell = self.cell(ev.office, ev.at, t.service, counter, operator)
        cell.served += 1
        begun = t.started_at or t.called_at
        if begun is not None:
            cell.services.append(max(0.0, round((ev.at - begun).total_seconds(), 1)))
        t.last = (t.service, counter, operator)
        self.end_visit(ev, t)

    def on_no_show(self, ev: EventRecord) -> None:
        t = self.track(ev)
        self.cell(ev.office, ev.at, t.service, t.counter or ev.counter, t.operator or ev.operator).no_show += 1
        self.end_visit(ev, t)
        t.queued_at = None

    def on_cancelled(self, ev: EventRecord) -> None:
        t = self.track(ev)
        self.cell(ev.office, ev.at, t.service, t.counter, t.operator).cancelled += 1
        self.end_visit(ev, t)
        t.queued_at = None

    def on_transferred(self, ev: EventRecord) -> None:
        t = self.track(ev)
        if not ev.data.get("bundle"):  # a life-situation bundle moving to its next service is no transfer
            cell = self.cell(ev.office, ev.at, t.service, t.counter or ev.counter, t.operator or ev.operator)
            cell.transferred += 1
        self.end_visit(ev, t)
        t.service = ev.data.get("to_service") or ev.service or t.service
        t.queued_at = ev.at
        t.counter = t.operator = None

    def on_returned(self, ev: EventRecord) -> None:
        t = self.track(ev)
        t.service = ev.data.get("to_service") or ev.service or t.service
        t.queued_at = ev.at

    def on_postponed(self, ev: EventRecord) -> None:
        t = self.track(ev)
        self.end_visit(ev, t)
        t.queued_at = None  # sent away on purpose: the time away is not a wait

    def on_rated(self, ev: EventRecord) -> None:
        rated = self.tickets.get(ev.ticket_id or "")
        service, counter, operator = (rated.last if rated and rated.last else (ev.service, ev.counter, ev.operator))
        score = ev.data.get("score")
        if score is not None:
            ratings = self.cell(ev.office, ev.at, service, counter, operator).ratings
            ratings[int(score)] = ratings.get(int(score), 0) + 1

    def on_signed_in(self, ev: EventRecord) -> None:
        desk = self.desk(ev)
        self.close_session(ev, desk)
        desk.operator, desk.signed_in_at = ev.operator, ev.at

    def on_signed_out(self, ev: EventRecord) -> None:
        self.close_session(ev, self.desk(ev))

    def on_paused(self, ev: EventRecord) -> None:
        desk = self.desk(ev)
        if desk.paused_at is None:
            desk.paused_at = ev.at
            desk.pause_reason = str(ev.data.get("reason") or ev.data.get("pause_reason") or "")
            counts = self.cell(ev.office, ev.at, None, ev.counter, desk.operator or ev.operator).pause_count
            counts[desk.pause_reason] = counts.get(desk.pause_reason, 0) + 1

    def on_resumed(self, ev: EventRecord) -> None:
        self.close_pause(ev, self.desk(ev))

    def on_counter_closed(self, ev: EventRecord) -> None:
        key = (ev.office, ev.counter or "")
        if key not in self.closed:  # closed twice without an opening (not logged today): one closing
            self.closed[key] = ev.at
            self.cell(ev.office, ev.at, None, ev.counter, None).closed_count += 1

    def on_counter_opened(self, ev: EventRecord) -> None:
        since = self.closed.pop((ev.office, ev.counter or ""), None)
        if since is not None:  # closed before the range: its closed time is not known, nor counted
            self.spread(ev.office, since, ev.at, None, ev.counter, None, "closed_s")

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
        """Close what is still running at ``until`` (the end of the range): sessions, pauses, closed
        counters, visits."""
        if until is None:
            return
        for (office, counter), desk in self.desks.items():
            end = EventRecord(kind="end", at=until, office=office, counter=counter, operator=desk.operator)
            self.close_session(end, desk)
        for (office, counter), since in self.closed.items():
            self.spread(office, since, until, None, counter, None, "closed_s")
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
    nonempty = [p for p in parts if p]
    if len(nonempty) <= 1:
        return dict(nonempty[0]) if nonempty else {}
    out: Cells = {}
    for part in nonempty:
        for key, cell in part.items():
            found = out.get(key)
            if found is None:
                out[key] = found = Cell()
            found.merge(cell)
    return out
