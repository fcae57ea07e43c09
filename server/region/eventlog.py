"""The event log going up to the region, on both ends of the store (issue 21).

Office side: :func:`events_after` reads the next events of one office after a seq, never past
:class:`SettledHorizon`, so an event whose seq was drawn by a transaction that commits later is never
skipped. Region side: :func:`store_batch` stores a batch in one transaction if it follows on from
the office's cursor (``region_cursors``), keeping the office's own seq in ``events.origin_seq``, and
says how far the region now holds the office's log.

Both work on SQLite and PostgreSQL through :class:`~cherga.server.store.Store`; they live here, not
in ``store.py``, because only the uplink and the intake use them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from cherga.broker_bridge.contract import LoggedEvent
from cherga.server.db import schema
from cherga.server.store import Store

__all__ = ["SettledHorizon", "events_after", "store_batch", "store_batches", "Stored", "cursor_of", "BatchRefused"]

_EVENT_FIELDS = ("seq", "kind", "ticket_id", "service", "counter", "operator", "at", "data")


class SettledHorizon:
    """The highest event seq up to which every event is final: committed, or never to be.

    SQLite: a writer holds the database's one write lock from ``BEGIN IMMEDIATE`` to its commit, so
    seqs are drawn in commit order; what a reader sees is final and there is no horizon (``None``).

    PostgreSQL: a seq is drawn from a sequence when the event is inserted, and the transaction may
    commit later than one that drew a higher seq after it. A reader that moved its cursor past the
    visible higher seq would skip the earlier one for ever. So a poll takes a *mark*: the sequence's
    last value ``V`` and then the first transaction id not yet assigned ``X``. Every transaction that
    drew a seq up to ``V`` already had its id (the service's transactions write the ticket, and get
    their id, before the event; the event insert itself assigns one before it returns), so its id is
    below ``X``; once the oldest transaction still running is at or past ``X``, all of them have
    ended, and the events up to ``V`` are final. A later poll checks that and moves the horizon to
    ``V``. Reads only: no lock that a queue transaction could wait on.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: tuple[int, int] | None = None
        self._settled = 0

    def current(self) -> int | None:
        """The seq readers may go up to now (``None``: no limit)."""
        if self._store.dialect != "postgresql":
            return None
        with self._store.engine.connect() as conn:
            if self._pending is not None:
                xmin = int(conn.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
                           .scalar_one())
                if xmin >= self._pending[1]:
                    self._settled = max(self._settled, self._pending[0])
                    self._pending = None
            if self._pending is None:
                last = conn.execute(text(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')::regclass)")).scalar_one()
                # Read after the sequence, in its own statement: the id boundary is taken later than V.
                xmax = int(conn.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))
                           .scalar_one())
                self._pending = (int(last or 0), xmax)
            conn.rollback()
        return self._settled


def events_after(store: Store, office: str, after: int, limit: int, upto: int | None = None) -> list[LoggedEvent]:
    """The office's events with seq above ``after`` (and at most ``upto``), oldest first, at most ``limit``.
    Events that came up from elsewhere (``origin_seq`` set) are not the office's own log and stay."""
    e = schema.events
    q = (select(*[e.c[name] for name in _EVENT_FIELDS])
         .where(e.c.office == office, e.c.seq > after, e.c.origin_seq.is_(None))
         .order_by(e.c.seq).limit(limit))
    if upto is not None:
        q = q.where(e.c.seq <= upto)
    with store.reading() as conn:
        rows = conn.execute(q).mappings().all()
    return [LoggedEvent(**dict(r)) for r in rows]


class BatchRefused(ValueError):
    """A batch that cannot be a piece of any office's log (seqs not increasing, or not above ``after``)."""


@dataclasses.dataclass(frozen=True)
class Stored:
    upto: int  # the office's seq of the last event the region holds in order
    gap: bool  # the batch did not follow on: the office resends after ``upto``
    added: int  # events stored by this batch (0 for a repeat)


def cursor_of(store: Store, office: str) -> int:
    c = schema.region_cursors
    with store.reading() as conn:
        value = conn.execute(select(c.c.upto).where(c.c.office == office)).scalar_one_or_none()
    return int(value or 0)


def _check(after: int, events: Sequence[LoggedEvent]) -> None:
    last = after
    for ev in events:
        if ev.seq <= last:
            raise BatchRefused(f"seq {ev.seq} after {last}: a batch's seqs increase and follow its 'after'")
        last = ev.seq


def store_batch(store: Store, office: str, after: int, events: Sequence[LoggedEvent], at: dt.datetime) -> Stored:
    """Store ``events`` (the office's log after ``after``) if they follow on from what the region
    holds; one transaction with the cursor, so a crash keeps both or neither.

    * ``after`` is the cursor: everything is new.
    * ``after`` below the cursor (a resend, a go-back-N): the events the region holds are skipped,
      and the rest stored if the batch reaches the cursor's own event (else the region cannot know
      nothing lies between: ``gap``).
    * ``after`` above the cursor: events in between are missing: nothing stored, ``gap``.

    Raises :class:`BatchRefused` for seqs that do not increase from ``after``.
    """
    result = store_batches(store, [(office, after, events)], at)[0]
    if isinstance(result, BatchRefused):
        raise result
    return result


_PG_INSERT_EVENTS = text(
    "INSERT INTO events (kind, office, ticket_id, service, counter, operator, at, data, origin_seq) "
    "SELECT k, o, t, s, c, op, a, CAST(d AS json), q FROM unnest("
    "CAST(:kind AS text[]), CAST(:office AS text[]), CAST(:ticket_id AS text[]), CAST(:service AS text[]), "
    "CAST(:counter AS text[]), CAST(:operator AS text[]), CAST(:at AS timestamp[]), CAST(:data AS text[]), "
    "CAST(:origin_seq AS integer[])) AS u(k, o, t, s, c, op, a, d, q)")


def store_batches(store: Store, batches: Sequence[tuple[str, int, Sequence[LoggedEvent]]],
                  at: dt.datetime) -> list[Stored | BatchRefused]:
    """:func:`store_batch` for several batches (of any offices, in arrival order) in one transaction:
    one commit, one disk flush, for what arrived together. A refused batch is returned as its
    :class:`BatchRefused` and stores nothing; the others are kept.

    Set-wise, so a group costs a handful of round trips however many offices it holds (one per batch
    made 1,000 offices at three times the peak fall behind): the cursors of the group's offices are
    made and locked in two statements (in office order, so two region processes never deadlock), the
    batches decided in memory in arrival order, then every new event inserted and every moved cursor
    updated with one statement each."""
    out: list[Stored | BatchRefused] = []
    valid: list[tuple[int, str, int, Sequence[LoggedEvent]]] = []
    for i, (office, after, events) in enumerate(batches):
        try:
            _check(after, events)
        except BatchRefused as exc:
            out.append(exc)
            continue
        out.append(Stored(0, False, 0))  # placeholder, decided below
        valid.append((i, office, after, events))
    if not valid:
        return out
    c = schema.region_cursors
    offices = sorted({office for _, office, _, _ in valid})
    with store.transaction() as tx:
        conn = tx.conn
        dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        pg = conn.dialect.name == "postgresql"
        naive_at = at.astimezone(dt.UTC).replace(tzinfo=None)  # the store keeps naive UTC (schema.UTCDateTime)
        if pg:
            # PostgreSQL: one constant statement over arrays (unnest), not an executemany (a query per row)
            # nor a multi-row VALUES (a new statement to compile for every group size).
            conn.execute(text("INSERT INTO region_cursors (office, upto, updated_at) "
                              "SELECT unnest(CAST(:offices AS text[])), 0, :at ON CONFLICT DO NOTHING"),
                         {"offices": offices, "at": naive_at})
        else:
            conn.execute(dialect_insert(c).on_conflict_do_nothing(),
                         [{"office": o, "upto": 0, "updated_at": at} for o in offices])
        q = select(c.c.office, c.c.upto).where(c.c.office.in_(offices)).order_by(c.c.office)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()  # several region processes: one stores an office's batches at a time
        cursors = {str(r[0]): int(r[1]) for r in conn.execute(q).all()}
        start_cursors = dict(cursors)
        rows: list[dict[str, Any]] = []
        for i, office, after, events in valid:
            upto = cursors[office]
            seqs = [ev.seq for ev in events]
            if after > upto or (after < upto and seqs[-1] > upto and upto not in seqs):
                out[i] = Stored(upto, True, 0)
                continue
            fresh = [ev for ev in events if ev.seq > upto]
            if fresh:
                rows += [{"kind": ev.kind, "office": office, "ticket_id": ev.ticket_id, "service": ev.service,
                          "counter": ev.counter, "operator": ev.operator, "at": ev.at, "data": ev.data,
                          "origin_seq": ev.seq} for ev in fresh]
                cursors[office] = fresh[-1].seq
            out[i] = Stored(cursors[office], False, len(fresh))
        if rows and pg:
            conn.execute(_PG_INSERT_EVENTS, {
                "kind": [r["kind"] for r in rows], "office": [r["office"] for r in rows],
                "ticket_id": [r["ticket_id"] for r in rows], "service": [r["service"] for r in rows],
                "counter": [r["counter"] for r in rows], "operator": [r["operator"] for r in rows],
                "at": [r["at"].astimezone(dt.UTC).replace(tzinfo=None) for r in rows],
                "data": [json.dumps(r["data"]) for r in rows], "origin_seq": [r["origin_seq"] for r in rows]})
        elif rows:
            conn.execute(insert(schema.events), rows)
        moved = [{"w_office": o, "upto": u, "updated_at": at} for o, u in cursors.items() if u != start_cursors[o]]
        if moved and pg:
            # One statement for every moved cursor (an executemany is a round trip per office).
            conn.execute(text(
                "UPDATE region_cursors SET upto = v.upto, updated_at = :at FROM "
                "(SELECT unnest(CAST(:offices AS text[])) AS office, unnest(CAST(:uptos AS integer[])) AS upto) AS v "
                "WHERE region_cursors.office = v.office"),
                {"at": naive_at, "offices": [m["w_office"] for m in moved],
                 "uptos": [m["upto"] for m in moved]})
        elif moved:
            conn.execute(update(c).where(c.c.office == bindparam("w_office"))
                         .values(upto=bindparam("upto"), updated_at=bindparam("updated_at")), moved)
    return out
