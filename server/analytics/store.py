"""The analytics side of the store: events read into records, the daily aggregate table, retention.

* :func:`read_events` streams the ``events`` table (``server/db/schema.py``) of some offices and a
  time range into :class:`~server.analytics.records.EventRecord` s, in log order. It reads the
  driver's rows directly (no ORM) and parses ``data`` only for the kinds whose details reports
  use, so a month of a large office reads in well under a second on SQLite.
* ``analytics_daily`` (this module owns it) holds the hourly cells of days whose raw events were
  pruned: :func:`prune` folds each old day into cells, stores them and deletes that day's raw
  events in one transaction, so a day is always either raw or aggregated, never both.
  The table carries no ticket ids and no visitor data; it keeps employees' ids (reports per
  employee must survive) and anonymous durations.
* :func:`load_cells` is what the pages call: aggregates plus the folded raw events of a range.

The aggregate table is created by :func:`ensure_tables` (``CREATE TABLE IF NOT EXISTS``) rather
than by the store's Alembic migrations, so analytics can be added to an existing office database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from server.analytics.engine import Cell, CellKey, Cells, fold, merge_cells
from server.analytics.records import EventRecord
from server.core.tickets import EventKind
from server.db import schema
from server.store import Store

_meta = MetaData()
daily = Table(
    "analytics_daily", _meta,
    Column("office", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("hour", Integer, primary_key=True),
    Column("service", String(40), primary_key=True),  # "" for none (PK columns cannot be NULL)
    Column("counter", String(40), primary_key=True),
    Column("operator", String(64), primary_key=True),
    Column("data", JSON, nullable=False),
)

# Kinds whose ``data`` the engine reads; other kinds skip the JSON parse.
_DATA_KINDS = frozenset({EventKind.ISSUED.value, EventKind.TRANSFERRED.value, EventKind.RETURNED.value,
                         EventKind.RATED.value, EventKind.COUNTER_PAUSED.value})
_NO_DATA: Mapping[str, Any] = {}


_ensured: set[int] = set()


def ensure_tables(store: Store) -> None:
    """Create ``analytics_daily`` if the database has none (once per engine)."""
    if id(store.engine) not in _ensured:
        _meta.create_all(store.engine, checkfirst=True)
        _ensured.add(id(store.engine))


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant a local day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _as_time(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _iter_rows(conn: Connection, offices: Iterable[str], start: dt.datetime, end: dt.datetime) -> Iterator[Any]:
    """Raw driver rows (kind, at, ticket_id, office, service, counter, operator, data) in log order."""
    e = schema.events
    office_list = sorted(set(offices))
    # Bind placeholders through SQLAlchemy's compiler so one statement serves SQLite and PostgreSQL;
    # the rows then come straight from the driver without per-column result processing.
    stmt = (select(e.c.kind, e.c.at, e.c.ticket_id, e.c.office, e.c.service, e.c.counter, e.c.operator, e.c.data)
            .where(e.c.office.in_(office_list), e.c.at >= start, e.c.at < end)
            .order_by(e.c.at, e.c.seq))
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    for name, value in params.items():  # what UTCDateTime would bind: naive UTC (SQLite: its text form)
        if isinstance(value, dt.datetime):
            naive = _naive_utc(value)
            params[name] = naive.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else naive
    positional = getattr(compiled, "positiontup", None)
    args: Any = tuple(params[k] for k in positional) if positional else params
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(str(compiled), args)
        while True:
            chunk = cursor.fetchmany(5000)
            if not chunk:
                break
            yield from chunk
    finally:
        cursor.close()


def read_events(store: Store, offices: Iterable[str], start: dt.datetime, end: dt.datetime) -> Iterator[EventRecord]:
    """The events of ``offices`` with ``start <= at < end``, in log order, as report records."""
    with store.reading() as conn:
        for kind, at, ticket_id, office, service, counter, operator, data in _iter_rows(conn, offices, start, end):
            details = _NO_DATA
            if kind in _DATA_KINDS and data:
                details = json.loads(data) if isinstance(data, str | bytes) else data
            yield EventRecord(kind, _as_time(at), ticket_id, office, service, counter, operator, details)


def read_aggregates(store: Store, offices: Iterable[str], first: dt.date, last: dt.date) -> Cells:
    cells: Cells = {}
    with store.reading() as conn:
        rows = conn.execute(select(daily).where(daily.c.office.in_(sorted(set(offices))),
                                                daily.c.day >= first, daily.c.day <= last))
        for r in rows.mappings():
            key = CellKey(r["office"], r["day"], r["hour"], r["service"] or None, r["counter"] or None,
                          r["operator"] or None)
            data = r["data"] if isinstance(r["data"], Mapping) else json.loads(r["data"])
            cells[key] = Cell.from_json(data)
    return cells


def load_cells(store: Store, offices: Mapping[str, ZoneInfo | str], first: dt.date, last: dt.date, *,
               now: dt.datetime | None = None) -> Cells:
    """Cells of the local days ``first..last`` for each office (offices grouped by their time zone).

    Sessions and visits still open at the end of the range (or at ``now`` for a range that
    includes today) are closed there.
    """
    by_zone: dict[str, list[str]] = {}
    for office, tz in offices.items():
        by_zone.setdefault(str(tz), []).append(office)
    ensure_tables(store)
    parts: list[Cells] = [read_aggregates(store, offices, first, last)]
    for zone_name, office_ids in by_zone.items():
        zone = ZoneInfo(zone_name)
        start = local_midnight(first, zone)
        end = local_midnight(last + dt.timedelta(days=1), zone)
        until = end if now is None else min(end, now)
        parts.append(fold(read_events(store, office_ids, start, end), tz=zone, until=until))
    return merge_cells(*parts)


def prune(store: Store, office: str, tz: ZoneInfo | str, *, retain_days: int, now: dt.datetime) -> int:
    """Aggregate, then delete, the raw events of local days older than ``retain_days``.

    Returns the number of days pruned. Each day is one transaction (aggregate rows written and raw
    events deleted together); running it again does nothing more.
    """
    if retain_days < 1:
        raise ValueError("keep at least one day of raw events (today's queue lives in them)")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    ensure_tables(store)
    cutoff_day = now.astimezone(zone).date() - dt.timedelta(days=retain_days)
    cutoff = local_midnight(cutoff_day, zone)
    e = schema.events
    with store.reading() as conn:
        oldest = conn.execute(select(e.c.at).where(e.c.office == office, e.c.at < cutoff)
                              .order_by(e.c.at).limit(1)).scalar()
    if oldest is None:
        return 0
    day = _as_time(oldest).astimezone(zone).date()
    pruned = 0
    while day < cutoff_day:
        start, end = local_midnight(day, zone), local_midnight(day + dt.timedelta(days=1), zone)
        cells = fold(read_events(store, [office], start, end), tz=zone, until=end)
        with store.transaction() as tx:
            _write_cells(tx.conn, cells)
            tx.conn.execute(delete(e).where(e.c.office == office, e.c.at >= start, e.c.at < end))
        pruned += 1 if cells else 0
        day += dt.timedelta(days=1)
    return pruned


def _write_cells(conn: Connection, cells: Cells) -> None:
    if not cells:
        return
    rows = [{"office": k.office, "day": k.day, "hour": k.hour, "service": k.service or "",
             "counter": k.counter or "", "operator": k.operator or "", "data": c.to_json()}
            for k, c in cells.items()]
    # Merge into rows already there (a day aggregated in two parts, e.g. after a late import).
    keys = {(r["office"], r["day"]) for r in rows}
    existing: Cells = {}
    for office, day in keys:
        for r in conn.execute(select(daily).where(daily.c.office == office, daily.c.day == day)).mappings():
            key = CellKey(r["office"], r["day"], r["hour"], r["service"] or None, r["counter"] or None,
                          r["operator"] or None)
            existing[key] = Cell.from_json(r["data"] if isinstance(r["data"], Mapping) else json.loads(r["data"]))
        conn.execute(delete(daily).where(daily.c.office == office, daily.c.day == day))
    if existing:
        merged = merge_cells(existing, cells)
        rows = [{"office": k.office, "day": k.day, "hour": k.hour, "service": k.service or "",
                 "counter": k.counter or "", "operator": k.operator or "", "data": c.to_json()}
                for k, c in merged.items()]
    conn.execute(insert(daily), rows)


def operator_names(store: Store) -> dict[str, str]:
    """Staff usernames to display names (for reports shown to managers)."""
    return {s.username: s.display_name for s in store.all_staff()}
