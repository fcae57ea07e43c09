"""The analytics side of the store: events read into records, the daily aggregate table, retention.

* :func:`read_events` streams the ``events`` table (``server/db/schema.py``) of some offices and a
  time range into :class:`~server.analytics.records.EventRecord` s, in log order. It reads the
  driver's rows directly (no ORM) and parses ``data`` only for the kinds whose details reports
  use, so a month of a large office reads in well under a second on SQLite.
* ``analytics_day_cells`` (``server/db/schema.py``, made by the store's migrations) holds the
  hourly cells of each closed local day, and ``analytics_days`` which days are folded, up to which
  event ``seq``, and whether their raw events were pruned. A closed day is folded once, on first use (and again if events for it
  arrive later, e.g. a kiosk's offline tickets), so a monthly report reads ~30 days of cells
  instead of ~200,000 events. The tables carry no ticket ids and no visitor data; they keep
  employees' ids (reports per employee must survive) and anonymous durations.
* :func:`prune` (retention) folds each old day and deletes its raw events in one transaction, so
  a day's numbers are never lost nor counted twice.
* :func:`load_cells` is what the pages call: stored cells of closed days plus today's raw events.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Text, cast, delete, func, insert, select, update

from cherga.server.analytics.engine import Cell, CellKey, Cells, fold, merge_cells
from cherga.server.analytics.network import NetworkData, add_cells, add_summary, summarize
from cherga.server.analytics.records import EventRecord
from cherga.server.core.tickets import EventKind
from cherga.server.db import schema
from cherga.server.store import IntegrityError, Store

log = logging.getLogger(__name__)

daily = schema.analytics_day_cells
days = schema.analytics_days
_EMPTY_SUMMARY = '{"c":[],"w":[],"h":[],"i":[]}'  # a day nothing happened

# Kinds whose ``data`` the engine reads; other kinds skip the JSON parse.
_DATA_KINDS = frozenset({EventKind.ISSUED.value, EventKind.TRANSFERRED.value, EventKind.RETURNED.value,
                         EventKind.RATED.value, EventKind.COUNTER_PAUSED.value})
_NO_DATA: Mapping[str, Any] = {}


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant a local day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _as_time(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _iter_rows(conn: Connection, offices: Iterable[str], start: dt.datetime, end: dt.datetime,
               min_seq: int = 0) -> Iterator[Any]:
    """Raw driver rows (seq, kind, at, ticket_id, office, service, counter, operator, data) in log order."""
    e = schema.events
    office_list = sorted(set(offices))
    # ``data`` as text: the driver would otherwise parse every row's JSON (psycopg does), and the
    # engine needs the details of a few kinds only.
    stmt = (select(e.c.seq, e.c.kind, e.c.at, e.c.ticket_id, e.c.office, e.c.service, e.c.counter, e.c.operator,
                   cast(e.c.data, Text))
            .where(e.c.office.in_(office_list), e.c.at >= start, e.c.at < end)
            .order_by(e.c.seq))  # the log's own order (append-only: causal order)
    if min_seq:
        stmt = stmt.where(e.c.seq > min_seq)
    # Compiled by SQLAlchemy (one statement for SQLite and PostgreSQL), executed on the driver's own
    # cursor: the rows skip SQLAlchemy's per-column result processing, which would double the time.
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


def _records(rows: Iterable[Any], last: list[int]) -> Iterator[EventRecord]:
    for seq, kind, at, ticket_id, office, service, counter, operator, data in rows:
        details = _NO_DATA
        if kind in _DATA_KINDS and data:
            details = json.loads(data) if isinstance(data, str | bytes) else data
        if seq > last[0]:
            last[0] = seq
        yield EventRecord(kind, _as_time(at), ticket_id, office, service, counter, operator, details)


def read_events(store: Store, offices: Iterable[str], start: dt.datetime, end: dt.datetime) -> Iterator[EventRecord]:
    """The events of ``offices`` with ``start <= at < end``, in log order, as report records."""
    with store.reading() as conn:
        yield from _records(_iter_rows(conn, offices, start, end), [0])


def _decode(office: str, day: dt.date, text: str) -> Cells:
    out: Cells = {}
    for hour, service, counter, operator, *row in json.loads(text):
        out[CellKey(office, day, hour, service, counter, operator)] = Cell.from_row(row)
    return out


def _encode(cells: Cells) -> str:
    return json.dumps([[k.hour, k.service, k.counter, k.operator, *c.to_row()] for k, c in cells.items()],
                      separators=(",", ":"))


def read_aggregates(store: Store, offices: Iterable[str], first: dt.date, last: dt.date) -> Cells:
    """The stored hourly cells of the local days ``first..last``."""
    out: Cells = {}
    with store.reading() as conn:
        rows = conn.execute(select(daily.c.office, daily.c.day, daily.c.cells).where(
            daily.c.office.in_(sorted(set(offices))), daily.c.day >= first, daily.c.day <= last))
        for office, day, text in rows:
            out.update(_decode(office, day, text))
    return out


def _day_rows(conn: Connection, office: str, first: dt.date, last: dt.date) -> dict[dt.date, tuple[int, bool]]:
    rows = conn.execute(select(days.c.day, days.c.last_seq, days.c.pruned).where(
        days.c.office == office, days.c.day >= first, days.c.day <= last))
    return {r[0]: (int(r[1]), bool(r[2])) for r in rows}


def _absorb(store: Store, office: str, zone: ZoneInfo, day: dt.date, *, delete_raw: bool = False) -> None:
    """Fold one local day's raw events into its stored cells, in one transaction.

    A day not pruned is folded whole and its cells replaced; a pruned day (its raw events gone)
    only takes the events that arrived after it was pruned (a kiosk's offline tickets synced late),
    merged into its cells. With ``delete_raw`` the folded raw events are deleted (retention).
    """
    start, end = local_midnight(day, zone), local_midnight(day + dt.timedelta(days=1), zone)
    # Fold in a read transaction, write in a short one: on SQLite a write transaction holds the
    # office's only write lock, and counters must not wait for a report.
    with store.reading() as conn:
        old = _day_rows(conn, office, day, day).get(day)
        pruned = bool(old and old[1])
        since = old[0] if pruned and old else 0
        # The log's head before the fold reads: every event up to it is in this fold, so the day is
        # stale only if an event with a higher seq arrives for it (refresh_network looks for those
        # among the events appended since, not day by day).
        head = int(conn.execute(select(func.max(schema.events.c.seq))).scalar() or 0)
        last = [since]
        cells = fold(_records(_iter_rows(conn, [office], start, end, min_seq=since), last), tz=zone, office=office,
                     until=end)
    text = None if pruned else _encode(cells)
    summary = None if pruned else summarize(cells).get((office, day), _EMPTY_SUMMARY)
    try:
        with store.transaction() as tx:
            conn = tx.conn
            if _day_rows(conn, office, day, day).get(day) != old:
                return  # another process folded this day meanwhile: theirs stands
            if pruned:
                stored = conn.execute(select(daily.c.cells).where(daily.c.office == office,
                                                                  daily.c.day == day)).scalar()
                merged = merge_cells(_decode(office, day, stored) if stored else {}, cells)
                text = _encode(merged)
                summary = summarize(merged).get((office, day), _EMPTY_SUMMARY)
            conn.execute(delete(daily).where(daily.c.office == office, daily.c.day == day))
            conn.execute(insert(daily).values(office=office, day=day, cells=text, summary=summary))
            if delete_raw:
                e = schema.events
                conn.execute(delete(e).where(e.c.office == office, e.c.at >= start, e.c.at < end,
                                             e.c.seq <= last[0]))
            conn.execute(delete(days).where(days.c.office == office, days.c.day == day))
            conn.execute(insert(days).values(office=office, day=day, last_seq=max(last[0], head),
                                             pruned=pruned or delete_raw))
    except IntegrityError:  # another process folded the same day at the same moment: theirs stands
        log.info("analytics: day %s of %s folded concurrently", day, office)


def refresh_aggregates(store: Store, office: str, tz: ZoneInfo | str, first: dt.date, last: dt.date) -> int:
    """Make the stored cells of the closed days ``first..last`` current; returns days (re)folded.

    A day is folded the first time it is asked for, and again only when events for it were
    appended after it was folded (``last_seq`` of ``analytics_days``).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    e = schema.events
    with store.reading() as conn:
        known = _day_rows(conn, office, first, last)
        todo = {first + dt.timedelta(days=i) for i in range((last - first).days + 1)} - set(known)
        for day, (last_seq, _) in known.items():
            # ``seq + 0``: max(seq) alone lets PostgreSQL walk the primary key backwards from the log's end,
            # filtering office and day as it goes (40 ms a day on a network's log, issue 21); this way it
            # takes the day's rows from the (office, at) index and compares those only.
            newest = conn.execute(select(func.max(e.c.seq + 0)).where(
                e.c.office == office, e.c.at >= local_midnight(day, zone),
                e.c.at < local_midnight(day + dt.timedelta(days=1), zone))).scalar()
            if newest is not None and newest > last_seq:
                todo.add(day)
    for day in sorted(todo):
        _absorb(store, office, zone, day)
    return len(todo)


def load_cells(store: Store, offices: Mapping[str, ZoneInfo | str], first: dt.date, last: dt.date, *,
               now: dt.datetime | None = None, use_aggregates: bool = True) -> Cells:
    """Cells of the local days ``first..last`` for each office.

    Closed days (before the office's today) come from the daily aggregate table, folded from the
    raw events on first use; today (and later) is folded from the raw events, with sessions and
    visits still open closed at ``now``. With ``use_aggregates=False`` every day with raw events is
    folded from them (only pruned days come from the aggregates): the slow path, for checking.
    """
    now = now or dt.datetime.now(dt.UTC)
    parts: list[Cells] = []
    for office, tz in offices.items():
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        today = now.astimezone(zone).date()
        closed_last = min(last, today - dt.timedelta(days=1))
        raw_first = first
        if use_aggregates and closed_last >= first:
            refresh_aggregates(store, office, zone, first, closed_last)
            parts.append(read_aggregates(store, [office], first, closed_last))
            raw_first = closed_last + dt.timedelta(days=1)
        else:
            with store.reading() as conn:
                pruned = [d for d, (_, p) in _day_rows(conn, office, first, last).items() if p]
            for day in pruned:
                parts.append(read_aggregates(store, [office], day, day))
        if raw_first <= last:
            start = local_midnight(raw_first, zone)
            end = local_midnight(last + dt.timedelta(days=1), zone)
            until = min(end, now)  # nothing after now counts (and a clock set back must not show the future)
            parts.append(fold(read_events(store, [office], start, until), tz=zone, office=office, until=until))
    return merge_cells(*parts)


def prune(store: Store, office: str, tz: ZoneInfo | str, *, retain_days: int, now: dt.datetime) -> int:
    """Aggregate, then delete, the raw events of local days older than ``retain_days``.

    Returns the number of days pruned. Each day is one transaction (its cells written and its raw
    events deleted together), so a day is never counted twice; running it again does nothing more.
    """
    if retain_days < 1:
        raise ValueError("keep at least one day of raw events (today's queue lives in them)")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    cutoff_day = now.astimezone(zone).date() - dt.timedelta(days=retain_days)
    e = schema.events
    with store.reading() as conn:
        found = conn.execute(select(e.c.at).where(e.c.office == office, e.c.at < local_midnight(cutoff_day, zone))
                             .order_by(e.c.at)).scalars().all()
    old_days = sorted({_as_time(at).astimezone(zone).date() for at in found})
    for day in old_days:
        _absorb(store, office, zone, day, delete_raw=True)
    return len(old_days)


def operator_names(store: Store) -> dict[str, str]:
    """Staff usernames to display names (for reports shown to managers)."""
    return {s.username: s.display_name for s in store.all_staff()}


def refresh_network(store: Store, offices: Mapping[str, ZoneInfo], first: dt.date,
                    closed_last: Mapping[str, dt.date]) -> int:
    """Make the day summaries of ``offices``' closed days ``first..closed_last[office]`` current, for
    the network report; returns the office-days (re)folded.

    Not day by day (a month of 1,000 offices is 26,000 days): the days not folded yet are found in
    ``analytics_days``, and the stale ones among the events appended since the oldest fold (each day
    keeps the log's head at its fold; a day's event with a higher seq arrived after). Days folded
    before summaries existed get theirs from their stored cells. Like the per-office check, an event
    whose transaction commits after a later seq was read is not seen (PostgreSQL draws seqs at insert).
    """
    names = sorted(o for o in offices if closed_last[o] >= first)
    if not names:
        return 0
    last = max(closed_last[o] for o in names)
    e = schema.events
    known: dict[tuple[str, dt.date], int] = {}
    bare: list[tuple[str, dt.date]] = []
    todo: set[tuple[str, dt.date]] = set()
    with store.reading() as conn:
        head = int(conn.execute(select(func.max(e.c.seq))).scalar() or 0)
        joined = days.outerjoin(daily, (daily.c.office == days.c.office) & (daily.c.day == days.c.day))
        for office, day, last_seq, missing in conn.execute(
                select(days.c.office, days.c.day, days.c.last_seq, daily.c.summary.is_(None))
                .select_from(joined).where(days.c.office.in_(names), days.c.day >= first, days.c.day <= last)):
            if day <= closed_last[office]:
                known[(office, day)] = int(last_seq)
                if missing:
                    bare.append((office, day))
        for office in names:
            for i in range((closed_last[office] - first).days + 1):
                if (office, day := first + dt.timedelta(days=i)) not in known:
                    todo.add((office, day))
        floor = min(known.values(), default=head)
        if floor < head:
            start = min(local_midnight(first, offices[o]) for o in names)
            end = max(local_midnight(closed_last[o] + dt.timedelta(days=1), offices[o]) for o in names)
            late = conn.execute(select(e.c.office, e.c.seq, e.c.at).where(
                e.c.seq > floor, e.c.office.in_(names), e.c.at >= start, e.c.at < end))
            for office, seq, at in late:
                key = (office, _as_time(at).astimezone(offices[office]).date())
                if key in known and seq > known[key]:
                    todo.add(key)
        summaries: dict[tuple[str, dt.date], str] = {}
        for office, day in bare:
            if (office, day) in todo:
                continue
            text = conn.execute(select(daily.c.cells).where(daily.c.office == office, daily.c.day == day)).scalar()
            summaries[(office, day)] = summarize(_decode(office, day, text or "[]")).get((office, day), _EMPTY_SUMMARY)
    if summaries:
        with store.transaction() as tx:
            for (office, day), text in summaries.items():
                tx.conn.execute(update(daily).where(daily.c.office == office, daily.c.day == day).values(summary=text))
    if floor < head:
        # Nothing newer for the days found current: they are current up to the head now, so the next
        # report looks only at what comes after it.
        fresh = sorted(set(names) - {o for o, _ in todo})
        if fresh:
            with store.transaction() as tx:
                tx.conn.execute(update(days).where(days.c.office.in_(fresh), days.c.day >= first, days.c.day <= last,
                                                   days.c.last_seq < head).values(last_seq=head))
    for office, day in sorted(todo):
        _absorb(store, office, offices[office], day)
    return len(todo)


def load_network(store: Store, offices: Mapping[str, ZoneInfo | str], first: dt.date, last: dt.date, *,
                 now: dt.datetime | None = None) -> NetworkData:
    """The network report's data for the local days ``first..last``: the closed days' stored summaries
    (folded first where missing or stale: :func:`refresh_network`), read in one statement, and today's
    raw events folded and summed the same way (issue 21: 1,000 offices' month in seconds)."""
    now = now or dt.datetime.now(dt.UTC)
    zones = {o: ZoneInfo(tz) if isinstance(tz, str) else tz for o, tz in offices.items()}
    closed = {o: min(last, now.astimezone(z).date() - dt.timedelta(days=1)) for o, z in zones.items()}
    refresh_network(store, zones, first, closed)
    data = NetworkData()
    names = sorted(o for o in zones if closed[o] >= first)
    if names:
        with store.reading() as conn:
            rows = conn.execute(select(daily.c.office, daily.c.day, daily.c.summary).where(
                daily.c.office.in_(names), daily.c.day >= first, daily.c.day <= max(closed[o] for o in names)))
            for office, day, text in rows:
                if day <= closed[office] and text:
                    add_summary(data, office, day, text)
    for office, zone in zones.items():
        raw_first = max(first, closed[office] + dt.timedelta(days=1))
        if raw_first > last:
            continue
        start = local_midnight(raw_first, zone)
        until = min(local_midnight(last + dt.timedelta(days=1), zone), now)
        if until > start:
            add_cells(data, fold(read_events(store, [office], start, until), tz=zone, office=office, until=until))
    return data.finish()
