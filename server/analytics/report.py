"""Reports: the hourly cells of :mod:`server.analytics.engine` grouped into the tables managers read.

:func:`build_report` is pure: cells and a :class:`ReportQuery` in, a :class:`Report` (a list of
:class:`Table`) out. Every table exports the same way (CSV, XLSX, HTML), and column keys are
message-catalog keys (:mod:`server.analytics.i18n`), so the tables carry no language.

Dimensions: ``office``, ``territory`` (the territorial office of an office), ``service``,
``counter``, ``operator``. Periods: ``hour``, ``day``, ``month``, ``total`` (the whole range),
``hour_of_day`` and ``weekday`` (profiles across the range). Employees (the ``operator``
dimension and the staff, pause and per-employee rating tables) appear only when the query says
the viewer may see them (``show_employees``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from cherga.server.analytics.engine import Cell, CellKey, Cells
from cherga.server.analytics.stats import mean, median, minutes, percentile, share_over

Period = Literal["hour", "day", "month", "total", "hour_of_day", "weekday"]
PERIODS: tuple[Period, ...] = ("hour", "day", "month", "total", "hour_of_day", "weekday")
DIMENSIONS: tuple[str, ...] = ("office", "territory", "service", "counter", "operator")
ColumnKind = Literal["text", "int", "min", "pct", "hours", "float"]

PUNCTUAL_S = 5 * 60  # a booked visitor within ±5 minutes of the slot is on time


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    key: str  # a message-catalog key, e.g. "wait_mean"
    kind: ColumnKind = "int"


@dataclasses.dataclass(slots=True)
class Table:
    name: str  # a message-catalog key for the title, and the sheet / file name
    columns: list[Column]
    rows: list[list[Any]]

    def column(self, key: str) -> list[Any]:
        i = [c.key for c in self.columns].index(key)
        return [r[i] for r in self.rows]

    def as_dicts(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, r, strict=True)) for r in self.rows]


@dataclasses.dataclass(frozen=True, slots=True)
class ReportQuery:
    """What to report: the local days ``start``..``end`` (inclusive), grouped and filtered."""

    start: dt.date
    end: dt.date
    period: Period = "day"
    group_by: tuple[str, ...] = ("service",)
    offices: frozenset[str] | None = None
    services: frozenset[str] | None = None
    counters: frozenset[str] | None = None
    operators: frozenset[str] | None = None
    show_employees: bool = False

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"unknown period {self.period!r}; one of {', '.join(PERIODS)}")
        for d in self.group_by:
            if d not in DIMENSIONS:
                raise ValueError(f"unknown dimension {d!r}; one of {', '.join(DIMENSIONS)}")
        if self.end < self.start:
            raise ValueError("the range ends before it starts")

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The grouping the viewer may see (employees dropped unless allowed)."""
        return tuple(d for d in self.group_by if d != "operator" or self.show_employees)


@dataclasses.dataclass(slots=True)
class Report:
    query: ReportQuery
    tables: list[Table]

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """Facts about the offices that the event log does not carry."""

    territories: Mapping[str, str] = dataclasses.field(default_factory=dict)  # office -> territorial office
    operator_names: Mapping[str, str] = dataclasses.field(default_factory=dict)  # username -> display name


# --- grouping -------------------------------------------------------------------------------------

def _period_value(period: Period, key: CellKey) -> Any:
    if period == "hour":
        return f"{key.day.isoformat()} {key.hour:02d}:00"
    if period == "day":
        return key.day.isoformat()
    if period == "month":
        return key.day.strftime("%Y-%m")
    if period == "hour_of_day":
        return f"{key.hour:02d}:00"
    if period == "weekday":
        return key.day.isoweekday()
    return "total"


def select(cells: Cells, query: ReportQuery) -> Cells:
    """The cells inside the query's range and filters."""
    out: Cells = {}
    for key, cell in cells.items():
        if not query.start <= key.day <= query.end:
            continue
        if query.offices is not None and key.office not in query.offices:
            continue
        if query.services is not None and key.service is not None and key.service not in query.services:
            continue
        if query.counters is not None and key.counter not in query.counters:
            continue
        if query.operators is not None and key.operator not in query.operators:
            continue
        out[key] = cell
    return out


def collapse_hours(cells: Cells) -> Cells:
    """The same cells with the hour dropped (hour 0): what day, month and total reports need.

    Done once per report, it turns ~35,000 hourly cells of a large office's month into a few
    thousand, so every table after it groups a tenth of the cells.
    """
    out: Cells = {}
    for key, cell in cells.items():
        probe = (key.office, key.day, 0, key.service, key.counter, key.operator)
        found = out.get(probe)  # type: ignore[call-overload]
        if found is None:
            out[CellKey(*probe)] = found = Cell()
        found.merge(cell)
    return out


def group(cells: Cells, keyfunc: Callable[[CellKey], tuple[Any, ...]]) -> dict[tuple[Any, ...], Cell]:
    out: dict[tuple[Any, ...], Cell] = {}
    for key, cell in cells.items():
        k = keyfunc(key)
        found = out.get(k)
        if found is None:
            out[k] = found = Cell()
        found.merge(cell)
    return out


def _dim_value(dim: str, key: CellKey, ctx: Context) -> Any:
    if dim == "territory":
        return ctx.territories.get(key.office, key.office)
    value = getattr(key, dim)
    if dim == "operator" and value is not None:
        return ctx.operator_names.get(value, value)
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(v) if not isinstance(v, int | float) else f"{v:012.3f}") for v in row)


# --- the tables -----------------------------------------------------------------------------------

SUMMARY_COLUMNS = [
    Column("issued"), Column("served"), Column("no_show"), Column("cancelled"), Column("transferred"),
    Column("wait_mean", "min"), Column("wait_median", "min"), Column("wait_p90", "min"), Column("wait_max", "min"),
    Column("waited_over_15", "pct"),
    Column("service_mean", "min"), Column("service_median", "min"), Column("service_p90", "min"),
    Column("service_max", "min"),
]


def summary_values(cell: Cell) -> list[Any]:
    over = share_over(cell.waits)
    return [
        cell.issued, cell.served, cell.no_show, cell.cancelled, cell.transferred,
        minutes(mean(cell.waits)), minutes(median(cell.waits)), minutes(percentile(cell.waits, 90)),
        minutes(max(cell.waits) if cell.waits else None), None if over is None else round(over, 1),
        minutes(mean(cell.services)), minutes(median(cell.services)), minutes(percentile(cell.services, 90)),
        minutes(max(cell.services) if cell.services else None),
    ]


def _grouped_table(name: str, cells: Cells, query: ReportQuery, ctx: Context, dims: Sequence[str],
                   columns: list[Column], values: Callable[[Cell], list[Any]],
                   keep: Callable[[tuple[Any, ...], Cell], bool] = lambda k, c: True,
                   period: Period | None = None) -> Table:
    period = query.period if period is None else period
    with_period = period != "total"

    def keyfunc(key: CellKey) -> tuple[Any, ...]:
        dims_part = tuple(_dim_value(d, key, ctx) for d in dims)
        return ((_period_value(period, key),) if with_period else ()) + dims_part

    groups = group(cells, keyfunc)
    head = ([Column(period, "text")] if with_period else []) + [Column(d, "text") for d in dims]
    rows = [list(k) + values(c) for k, c in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])) if keep(k, c)]
    return Table(name, head + columns, rows)


def summary_table(cells: Cells, query: ReportQuery, ctx: Context) -> Table:
    return _grouped_table("summary", cells, query, ctx, query.dimensions, SUMMARY_COLUMNS, summary_values,
                          keep=lambda k, c: bool(c.issued or c.served or c.no_show or c.cancelled
                                                 or c.transferred or c.waits))


def totals_row(cells: Cells) -> list[Any]:
    total = Cell()
    for c in cells.values():
        total.merge(c)
    return summary_values(total)


STAFF_COLUMNS = [Column("served"), Column("open_h", "hours"), Column("busy_h", "hours"), Column("pause_h", "hours"),
                 Column("idle_h", "hours"), Column("utilisation", "pct"), Column("service_mean", "min")]


def staff_values(cell: Cell) -> list[Any]:
    pause = sum(cell.pauses.values())
    idle = max(0.0, cell.open_s - pause - cell.busy_s)
    util = 100.0 * cell.busy_s / (cell.open_s - pause) if cell.open_s - pause > 0 else None
    return [cell.served, round(cell.open_s / 3600, 2), round(cell.busy_s / 3600, 2), round(pause / 3600, 2),
            round(idle / 3600, 2), None if util is None else round(util, 1), minutes(mean(cell.services))]


def staff_table(cells: Cells, query: ReportQuery, ctx: Context) -> Table:
    staffed = {k: c for k, c in cells.items() if k.operator is not None}
    return _grouped_table("staff", staffed, query, ctx, ("operator",), STAFF_COLUMNS, staff_values)


def pauses_table(cells: Cells, query: ReportQuery, ctx: Context) -> Table:
    per: dict[tuple[Any, str], list[float]] = {}
    for key, cell in cells.items():
        if key.operator is None:
            continue
        who = _dim_value("operator", key, ctx)
        for reason in set(cell.pauses) | set(cell.pause_count):
            acc = per.setdefault((who, reason), [0, 0.0])
            acc[0] += cell.pause_count.get(reason, 0)
            acc[1] += cell.pauses.get(reason, 0.0)
    rows: list[list[Any]] = [[who, reason, int(n), round(s / 60, 2)]
                             for (who, reason), (n, s) in sorted(per.items(), key=lambda kv: _sort_key(kv[0]))]
    return Table("pauses", [Column("operator", "text"), Column("pause_reason", "text"), Column("pause_times"),
                            Column("pause_min", "min")], rows)


def closures_table(cells: Cells, query: ReportQuery, ctx: Context) -> Table:
    """Per counter: the times the hall manager closed it and the minutes it stood closed (no employee data)."""
    closed = {k: c for k, c in cells.items() if c.closed_count or c.closed_s}
    return _grouped_table("counter_closures", closed, query, ctx, ("counter",),
                          [Column("closed_times"), Column("closed_min", "min")],
                          lambda c: [c.closed_count, round(c.closed_s / 60, 2)], period="total")


def _ratings_table(name: str, cells: Cells, ctx: Context, dim: str) -> Table:
    groups: dict[Any, Tally[int]] = {}
    for key, cell in cells.items():
        if cell.ratings:
            groups.setdefault(_dim_value(dim, key, ctx), Tally()).update(cell.ratings)
    top = max([4, *(s for t in groups.values() for s in t)])
    columns = [Column(dim, "text"), Column("ratings")] + [Column(f"score_{s}") for s in range(1, top + 1)] + [
        Column("score_mean", "float")]
    rows = []
    for who, tally in sorted(groups.items(), key=lambda kv: _sort_key((kv[0],))):
        n = sum(tally.values())
        avg = sum(s * k for s, k in tally.items()) / n
        rows.append([who, n, *(tally.get(s, 0) for s in range(1, top + 1)), round(avg, 2)])
    return Table(name, columns, rows)


def punctuality_table(cells: Cells, query: ReportQuery, ctx: Context) -> Table:
    groups = group({k: c for k, c in cells.items() if c.booked or c.booked_missed}, lambda k: (k.service,))
    rows = []
    for (service,), cell in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        offsets = cell.punctuality
        early = sum(1 for o in offsets if o < -PUNCTUAL_S)
        late = sum(1 for o in offsets if o > PUNCTUAL_S)
        rows.append([service, cell.booked, early, len(offsets) - early - late, late, cell.booked_missed,
                     minutes(mean(offsets)), minutes(median(offsets))])
    return Table("punctuality", [Column("service", "text"), Column("booked"), Column("early"), Column("on_time"),
                                 Column("late"), Column("booked_missed"), Column("offset_mean", "min"),
                                 Column("offset_median", "min")], rows)


def build_report(cells: Cells, query: ReportQuery, ctx: Context | None = None, *,
                 staffing: Table | None = None) -> Report:
    """Every table of the report for ``query`` (``staffing`` from :mod:`server.analytics.staffing`)."""
    ctx = ctx or Context()
    chosen = select(cells, query)
    if query.period not in ("hour", "hour_of_day") and any(k.hour for k in chosen):  # day cells (a network's) are collapsed
        chosen = collapse_hours(chosen)
    tables = [summary_table(chosen, query, ctx)]
    if query.show_employees:
        tables += [staff_table(chosen, query, ctx), pauses_table(chosen, query, ctx)]
    tables.append(closures_table(chosen, query, ctx))
    tables.append(_ratings_table("ratings_service", chosen, ctx, "service"))
    if query.show_employees:
        tables.append(_ratings_table("ratings_staff", {k: c for k, c in chosen.items() if k.operator}, ctx,
                                     "operator"))
    tables.append(punctuality_table(chosen, query, ctx))
    if staffing is not None:
        tables.append(staffing)
    return Report(query, tables)
