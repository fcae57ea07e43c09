"""The network report's day summaries (issue 21): one office's closed day summed to what a report over a
network of offices needs, small enough that a month of 1,000 offices reads in seconds. Pure: cells in,
JSON text out, and back; the store (:mod:`server.analytics.store`) writes one beside each day's hourly
cells (``analytics_day_cells.summary``) and reads them for ``/reports/network``.

A summary holds, for one office and one local day:

* ``c``: the day's cells summed per service (hour, counter and employee dropped): every count, wait,
  visit length, rating and punctuality of that day, so the network's tables by day, week, month,
  service, office or territory are the same numbers as the offices' own reports summed. An office's
  report still reads its hourly cells (counters, employees, staffing, hours of the day).
* ``w``, ``h``, ``i``: what the staff rotation advice needs (:mod:`server.region.rotation`):
  the hours the office worked, per hour and service the arrivals and the desk seconds attributed to
  the service, and per hour and counter the desk seconds of a desk with no visit that hour (spread over
  the counter's services when read, from the configuration).

A month of a 4-desk office is ~30 hourly cells a day times counters and employees; its summary is 6
cells and ~60 short rows, and the database hands all of a network's in one statement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict

from cherga.server.analytics.engine import Cell, CellKey, Cells
from cherga.server.region.rotation import DemandParts, day_parts


@dataclasses.dataclass
class NetworkData:
    """A network's range: per office, day and service one cell (hour 0, no counter, no employee), and
    the staff rotation's parts."""

    cells: Cells = dataclasses.field(default_factory=dict)
    parts: DemandParts = dataclasses.field(default_factory=DemandParts)
    # (office, weekday, the hours worked that day) -> days: most days of an office repeat its hours, so
    # they are counted once per pattern and spread over the hours by :meth:`finish`.
    worked: dict[tuple[str, int, tuple[int, ...]], int] = dataclasses.field(default_factory=lambda: defaultdict(int))

    def finish(self) -> NetworkData:
        """Spread the counted working days over their hours (``parts.days``); call once, after the last add."""
        for (office, wd, hours), n in self.worked.items():
            for hour in hours:
                self.parts.days[(office, wd, hour)] += n
        self.worked.clear()
        return self


def summarize(cells: Cells) -> dict[tuple[str, dt.date], str]:
    """Each office-day of ``cells`` (hourly, as folded) as its summary's JSON text."""
    by_day: dict[tuple[str, dt.date], dict[str | None, Cell]] = defaultdict(dict)
    for key, cell in cells.items():
        per = by_day[(key.office, key.day)]
        found = per.get(key.service)
        if found is None:
            per[key.service] = found = Cell()
        found.merge(cell)
    worked, arrivals, desk, idle = day_parts(cells)
    out: dict[tuple[str, dt.date], dict[str, list[object]]] = {
        k: {"c": [[s, *c.to_row()] for s, c in per.items()], "w": [], "h": [], "i": []}
        for k, per in by_day.items()}

    def row(office: str, day: dt.date) -> dict[str, list[object]]:
        found = out.get((office, day))
        if found is None:
            found = out[(office, day)] = {"c": [], "w": [], "h": [], "i": []}
        return found

    for (office, day, hour) in worked:
        row(office, day)["w"].append(hour)
    for slot in {**arrivals, **desk}:  # per hour and service: arrivals and desk seconds, one row
        office, day, hour, service = slot
        row(office, day)["h"].append([hour, service, arrivals.get(slot, 0), round(desk.get(slot, 0.0), 1)])
    for (office, day, hour, counter), seconds in idle.items():
        row(office, day)["i"].append([hour, counter, round(seconds, 1)])
    for v in out.values():
        v["w"].sort()  # type: ignore[call-overload]  # hours: one pattern per set of hours
    return {k: json.dumps(v, separators=(",", ":")) for k, v in out.items()}


def add_summary(data: NetworkData, office: str, day: dt.date, text: str) -> None:
    """Read one office-day's summary into ``data`` (each office-day is added once; then :meth:`NetworkData.finish`)."""
    found = json.loads(text)
    cells = data.cells
    for service, *values in found["c"]:
        cell = Cell.from_row(values)
        key = CellKey(office, day, 0, service, None, None)
        if key in cells:  # the same office-day twice (today's raw part meeting a stored day): sum
            cells[key].merge(cell)
        else:
            cells[key] = cell
        if service is not None and cell.services:
            acc = data.parts.visits[(office, service)]
            acc[0] += sum(cell.services)
            acc[1] += len(cell.services)
    wd = day.weekday()
    parts = data.parts
    # A network's month is ~26,000 of these: plain loops over bound methods (this is most of the read).
    arrivals, open_s, idle = parts.arrivals, parts.open_s, parts.idle
    data.worked[(office, wd, tuple(found["w"]))] += 1
    for hour, service, n, seconds in found["h"]:
        slot = (office, service, wd, hour)
        if n:
            arrivals[slot] += n
        if seconds:
            open_s[slot] += seconds
    for hour, counter, seconds in found["i"]:
        idle[(office, counter, wd, hour)] += seconds


def add_cells(data: NetworkData, cells: Cells) -> None:
    """Hourly cells not stored yet (today's, folded from the raw events) into ``data``."""
    for (office, day), text in summarize(cells).items():
        add_summary(data, office, day, text)
    data.finish()
