"""Staff rotation advice across the network (issue 21): where desks are short and where they stand idle,
weekday by weekday and hour by hour, as moves "move 2 desks of passports from office A to office B on
Tuesday 09:00-12:00". Pure: plain data in (the analytics' hourly cells and each office's services),
moves out; no database, no web, no clock.

* **Demand** (:func:`demand_from_cells`): per office, service, weekday and hour, the arrivals an hour
  (tickets issued, averaged over the days of that weekday the office worked in that hour: the
  forecast a weekday's hour repeats, the same basis as the office's staffing table,
  ``server/analytics/staffing.py``) and the service's mean visit (observed, else the configured
  prior ``mean_service_min``).
* **Desks open**: each desk's signed-in time less its pauses in that hour, shared over the services by
  the time the desk spent on each (a desk idle all hour: evenly over the services it is set up for),
  averaged the same way. Desks at work, not desks on paper: a desk nobody sits at moves nobody.
* **Needed**: Erlang C (:func:`server.core.erlang.counters_needed`): the fewest desks with which
  :data:`TARGET_SHARE` of visitors are called within the service's ``target_wait_min``.
* **Moves** (:func:`advise`): in each weekday hour, for each service, an office *short* by
  ``round(needed - open)`` ≥ 1 desks takes desks from offices *idle* by ``floor(open - needed)`` ≥ 1
  that offer the same service, the most idle first; only whole desks move, so an office short by 0.4
  of a desk is left alone. Neighbouring hours with the same move are merged into one line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from cherga.server.analytics.engine import Cells
from cherga.server.core.erlang import counters_needed
from cherga.server.siteconfig import WEEKDAYS

TARGET_SHARE = 0.95


@functools.lru_cache(maxsize=65536)
def _needed(arrivals_per_h: float, mean_service_s: float, target_wait_s: float) -> int:
    """Erlang C's desks, remembered: a network's thousands of office-hours repeat the same few loads."""
    try:
        return counters_needed(arrivals_per_h / 3600, mean_service_s, target_wait_s=target_wait_s,
                               target_share=TARGET_SHARE)
    except ValueError:  # beyond any desk count: as short as can be
        return 1000


@dataclasses.dataclass(frozen=True)
class Demand:
    """One office's service in one weekday hour: what comes, what it takes, what was there."""

    office: str
    service: str
    weekday: int  # 0 = Monday
    hour: int  # local hour of day
    arrivals_per_h: float
    mean_service_s: float
    desks_open: float
    target_wait_s: float = 15 * 60

    @property
    def needed(self) -> int:
        return _needed(self.arrivals_per_h, self.mean_service_s, self.target_wait_s)

    @property
    def short(self) -> int:
        gap = self.needed - self.desks_open
        return round(gap) if gap >= 0.5 else 0

    @property
    def idle(self) -> int:
        return max(0, math.floor(self.desks_open - self.needed + 1e-9))


@dataclasses.dataclass(frozen=True)
class Move:
    """Move ``desks`` desks of ``service`` from ``source`` to ``target`` on ``weekday``, ``start``..``end`` (hours)."""

    service: str
    source: str
    target: str
    weekday: int
    start: int
    end: int  # exclusive: 9..12 reads 09:00-12:00
    desks: int

    @property
    def weekday_id(self) -> str:
        return WEEKDAYS[self.weekday]

    @property
    def hours(self) -> str:
        return f"{self.start:02d}:00–{self.end:02d}:00"


@dataclasses.dataclass(frozen=True)
class OfficeServices:
    """What of an office's configuration the advice needs."""

    services: frozenset[str]
    prior_service_s: Mapping[str, float]  # service -> configured mean visit (s)
    target_wait_s: Mapping[str, float]  # service -> target wait (s)
    counter_services: Mapping[str, Sequence[str]]  # counter -> services it is set up for


@dataclasses.dataclass
class DemandParts:
    """What the demand is made of, summed over the days of a range (mergeable; the network report's day
    summaries, ``server/analytics/network.py``, carry these per office-day so 1,000 offices need no hourly cells).

    Desk time is attributed to services per day, hour and counter (by the counter's busy time per service
    that hour): what cannot be attributed (a desk with no visit that hour) is kept per counter in ``idle``
    and spread over the services the counter is set up for (the configuration, known when reading).
    """

    days: dict[tuple[str, int, int], int] = dataclasses.field(default_factory=lambda: defaultdict(int))  # (office, weekday, hour) -> days worked
    arrivals: dict[tuple[str, str, int, int], int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    open_s: dict[tuple[str, str, int, int], float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    idle: dict[tuple[str, str, int, int], float] = dataclasses.field(default_factory=lambda: defaultdict(float))  # (office, counter, wd, hour)
    visits: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=lambda: defaultdict(lambda: [0.0, 0]))  # (office, service) -> [sum s, n]


def day_parts(cells: Cells) -> tuple[dict[tuple[str, dt.date, int], bool], dict[tuple[str, dt.date, int, str], int],
                                     dict[tuple[str, dt.date, int, str], float], dict[tuple[str, dt.date, int, str], float]]:
    """Per office, day and hour: worked (any ticket, desk or visit), arrivals per service, desk seconds
    attributed to each service, and per counter the desk seconds with no visit to attribute them by."""
    worked: dict[tuple[str, dt.date, int], bool] = {}
    arrivals: dict[tuple[str, dt.date, int, str], int] = defaultdict(int)
    busy: dict[tuple[str, dt.date, int, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    available: dict[tuple[str, dt.date, int, str], float] = defaultdict(float)  # (office, day, hour, counter)
    for key, cell in cells.items():
        if cell.issued or cell.open_s or cell.served:
            worked[(key.office, key.day, key.hour)] = True
        if key.service is not None:
            if cell.issued:
                arrivals[(key.office, key.day, key.hour, key.service)] += cell.issued
            if key.counter is not None and cell.busy_s:
                busy[(key.office, key.day, key.hour, key.counter)][key.service] += cell.busy_s
        if key.counter is not None and cell.open_s:
            available[(key.office, key.day, key.hour, key.counter)] += cell.open_s - sum(cell.pauses.values())
    desk: dict[tuple[str, dt.date, int, str], float] = defaultdict(float)  # (office, day, hour, service)
    idle: dict[tuple[str, dt.date, int, str], float] = defaultdict(float)  # (office, day, hour, counter)
    for (office, day, hour, counter), seconds in available.items():
        shares = busy.get((office, day, hour, counter))
        total = sum(shares.values()) if shares else 0.0
        if shares and total > 0:
            for service, b in shares.items():
                desk[(office, day, hour, service)] += seconds * b / total
        else:
            idle[(office, day, hour, counter)] += seconds
    return worked, arrivals, desk, idle


def parts_from_cells(cells: Cells, offices: Iterable[str] | None = None) -> DemandParts:
    """The demand's parts from hourly cells (one office's report, or a network's when it is small)."""
    if offices is not None:
        wanted = set(offices)
        cells = {k: c for k, c in cells.items() if k.office in wanted}
    parts = DemandParts()
    worked, arrivals, desk, idle = day_parts(cells)
    for (office, day, hour) in worked:
        parts.days[(office, day.weekday(), hour)] += 1
    for (office, day, hour, service), n in arrivals.items():
        parts.arrivals[(office, service, day.weekday(), hour)] += n
    for (office, day, hour, service), seconds in desk.items():
        parts.open_s[(office, service, day.weekday(), hour)] += seconds
    for (office, day, hour, counter), seconds in idle.items():
        parts.idle[(office, counter, day.weekday(), hour)] += seconds
    for key, cell in cells.items():
        if key.service is not None and cell.services:
            acc = parts.visits[(key.office, key.service)]
            acc[0] += sum(cell.services)
            acc[1] += len(cell.services)
    return parts


def demand_from_parts(parts: DemandParts, offices: Mapping[str, OfficeServices], *,
                      movable_only: bool = False) -> list[Demand]:
    """Per office, service, weekday and hour: arrivals, mean visit and desks at work. With ``movable_only``
    only the office-hours short or idle by a whole desk (all :func:`advise` looks at; a network of 1,000
    offices has ~500,000 office-hours and few of them either)."""
    if all(key[0] in offices for key in parts.idle) and {k[0] for k in parts.open_s} <= offices.keys():
        open_s: dict[tuple[str, str, int, int], float] = defaultdict(float, parts.open_s)  # all wanted: a copy
    else:
        open_s = defaultdict(float)
        for key, seconds in parts.open_s.items():
            if key[0] in offices:
                open_s[key] += seconds
    for (office, counter, wd, hour), seconds in parts.idle.items():
        if office not in offices:
            continue
        given = offices[office].counter_services.get(counter) or []
        for service in given:
            open_s[(office, service, wd, hour)] += seconds / len(given)
    out = []
    arrivals, days, visits = parts.arrivals, parts.days, parts.visits
    keys = {k for k in arrivals if k[0] in offices} | open_s.keys()
    # Sorted for a stable list; the advice does not need it (it sorts what it uses), and 1,000 offices'
    # ~500,000 office-hours would take a second to sort.
    for key in (keys if movable_only else sorted(keys)):
        office, service, wd, hour = key
        info = offices[office]
        n_days = days.get((office, wd, hour), 0) or 1
        per_hour = round(arrivals.get(key, 0) / n_days, 3)
        desks = round(open_s.get(key, 0.0) / (3600 * n_days), 3)
        total, n = visits.get((office, service), (0.0, 0))
        visit = (total / n if n else None) or info.prior_service_s.get(service)
        if not visit or (per_hour == 0 and desks == 0):
            continue
        target = info.target_wait_s.get(service, 15 * 60)
        if movable_only:
            gap = _needed(per_hour, visit, target) - desks
            if gap < 0.5 and gap > -1 + 1e-9:  # neither short (round(gap) >= 1) nor idle (floor(-gap) >= 1)
                continue
        out.append(Demand(office, service, wd, hour, per_hour, visit, desks, target))
    return out


def demand_from_cells(cells: Cells, offices: Mapping[str, OfficeServices]) -> list[Demand]:
    """Per office, service, weekday and hour: arrivals, mean visit and desks at work, from hourly cells."""
    return demand_from_parts(parts_from_cells(cells, offices), offices)


def _hourly_moves(demand: Iterable[Demand], offers: Mapping[str, frozenset[str]]) -> list[Move]:
    by_slot: dict[tuple[str, int, int], list[Demand]] = defaultdict(list)
    for d in demand:
        by_slot[(d.service, d.weekday, d.hour)].append(d)
    moves = []
    for (service, wd, hour), rows in sorted(by_slot.items()):
        short = sorted(((d.short, d.office) for d in rows if d.short > 0), key=lambda x: (-x[0], x[1]))
        idle = {d.office: d.idle for d in rows if d.idle > 0 and service in offers.get(d.office, frozenset())}
        for need, target in short:
            if service not in offers.get(target, frozenset()):
                continue
            for source in sorted(idle, key=lambda o: (-idle[o], o)):
                if need == 0:
                    break
                if source == target or idle[source] == 0:
                    continue
                n = min(need, idle[source])
                moves.append(Move(service, source, target, wd, hour, hour + 1, n))
                idle[source] -= n
                need -= n
    return moves


def merge_hours(moves: Iterable[Move]) -> list[Move]:
    """Neighbouring hours with the same move (service, offices, weekday, desks) as one line."""
    out: list[Move] = []
    for m in sorted(moves, key=lambda m: (m.weekday, m.service, m.source, m.target, m.desks, m.start)):
        last = out[-1] if out else None
        if (last is not None and (last.weekday, last.service, last.source, last.target, last.desks)
                == (m.weekday, m.service, m.source, m.target, m.desks) and last.end == m.start):
            out[-1] = dataclasses.replace(last, end=m.end)
        else:
            out.append(m)
    return sorted(out, key=lambda m: (m.weekday, m.start, m.service, m.source, m.target))


def advise(demand: Iterable[Demand], offers: Mapping[str, frozenset[str]]) -> list[Move]:
    """The moves for ``demand`` between the offices of ``offers`` (office -> the services it offers)."""
    return merge_hours(_hourly_moves(demand, offers))
