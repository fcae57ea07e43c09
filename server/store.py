"""The durable store: tickets, the append-only event log, command ids, number counters, counter
states, staff accounts, appointments and ratings, on SQLite or PostgreSQL through the same code.

* SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` and a busy timeout;
  every write transaction starts with ``BEGIN IMMEDIATE``, so writers from several processes
  queue instead of failing half-way.
* PostgreSQL runs at READ COMMITTED; the writes that must be atomic are single statements
  (a compare-and-set ``UPDATE ... WHERE id = ? AND version = ?``, an ``INSERT ... ON CONFLICT
  DO UPDATE ... RETURNING`` for numbers), so no two counters ever get the same ticket.
* A PostgreSQL URL may name a primary and its standby (libpq multi-host:
  ``?host=A:5432&host=B:5432&target_session_attrs=read-write``). Pooled connections are pinged
  before use, so after a promotion they are made again on whichever host takes writes;
  :func:`store_unreachable` tells the service a lost connection from a refused statement
  (docs/region.md, "High availability").
* The schema is created and upgraded by Alembic migrations (``server/db/migrations``) when a
  :class:`Store` opens.

A :class:`Tx` is one transaction; :meth:`Store.transaction` commits it (durably) on exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, and_, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, PendingRollbackError

from cherga.server.core.numbering import next_number
from cherga.server.core.tickets import Origin, Ticket, TicketStatus
from cherga.server.db import schema
from cherga.server.siteconfig import NumberRange

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "db" / "migrations"
ACTIVE = (TicketStatus.WAITING.value, TicketStatus.CALLED.value, TicketStatus.SERVING.value)

__all__ = ["Store", "Batch", "Tx", "TicketRecord", "StaffAccount", "CounterRow", "IntegrityError", "store_unreachable"]


def store_unreachable(exc: BaseException) -> bool:
    """Did the database fail to answer (gone, restarting, a failover under way) rather than refuse a statement?

    Such a transaction never committed, or its commit was cut off before the answer: a command is
    only retried under its command id, which the ``commands`` table answers if it did commit.
    """
    if isinstance(exc, IntegrityError):
        return False
    # PendingRollbackError: a batch's commit after a savepoint could not even be rolled back, which
    # here means its connection was lost (every statement error is rolled back at its savepoint).
    return isinstance(exc, (OperationalError, InterfaceError, PendingRollbackError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


@dataclasses.dataclass(frozen=True, slots=True)
class TicketRecord:
    """A core :class:`Ticket` with what only the store needs to know about it."""

    ticket: Ticket
    number_service: str  # the service the number was drawn for (numbers are unique per it and day)
    plan: tuple[str, ...] = ()  # services still to visit after this one (a life-situation bundle)
    version: int = 1
    source: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CounterRow:
    counter: str
    status: str
    operator: str | None
    pause_reason: str | None
    ticket_id: str | None
    rateable_ticket: str | None
    seq: int
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class StaffAccount:
    username: str
    display_name: str
    role: str
    password_hash: str | None
    pin_hash: str | None
    active: bool
    # The offices the account may act on; ``None``: every office (a regional administrator, issue 21).
    offices: tuple[str, ...] | None = None

    def may_act_on(self, office: str) -> bool:
        return self.offices is None or office in self.offices


def offices_column(offices: tuple[str, ...] | list[str] | None) -> str | None:
    """``staff.offices`` as stored: ids separated by spaces (office ids have none), null for every office."""
    return None if offices is None else " ".join(dict.fromkeys(offices))


def offices_of(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value.split())


_TICKET_FIELDS = [f.name for f in dataclasses.fields(Ticket)]


def _ticket_values(rec: TicketRecord) -> dict[str, Any]:
    t = rec.ticket
    values = {name: getattr(t, name) for name in _TICKET_FIELDS}
    values["status"] = t.status.value
    values["origin"] = t.origin.value
    values.update(number_service=rec.number_service, plan=list(rec.plan), version=rec.version, source=rec.source)
    return values


def _ticket_from_row(row: Mapping[str, Any] | RowMapping) -> TicketRecord:
    kwargs = {name: row[name] for name in _TICKET_FIELDS}
    kwargs["status"] = TicketStatus(row["status"])
    kwargs["origin"] = Origin(row["origin"])
    kwargs["recalls"] = row["recalls"] or 0
    return TicketRecord(Ticket(**kwargs), row["number_service"], tuple(row["plan"] or ()), row["version"],
                        row["source"])


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _insert_for(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


_INSERT_COMMAND = insert(schema.commands)
_SELECT_COMMAND = select(schema.commands.c.result).where(
    schema.commands.c.office == bindparam("office"), schema.commands.c.command_id == bindparam("command_id"))
_INSERT_TICKET = insert(schema.tickets)
_INSERT_EVENT = insert(schema.events)
_UPDATE_TICKET = (
    update(schema.tickets)
    .where(and_(schema.tickets.c.id == bindparam("w_id"), schema.tickets.c.version == bindparam("w_version")))
    .values({c.name: bindparam(c.name) for c in schema.tickets.c if c.name != "id"})
)
_DRAW: dict[str, Any] = {}


def _draw_statement(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last``, built once per dialect."""
    if dialect not in _DRAW:
        t = schema.number_counters
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t)
        _DRAW[dialect] = ins.on_conflict_do_update(
            index_elements=[t.c.office, t.c.service, t.c.day, t.c.range],
            set_={"last": t.c["last"] + 1},
        ).returning(t.c["last"])
    return _DRAW[dialect]


_SAVE_COUNTER: dict[str, Any] = {}


def _save_counter_statement(dialect: str) -> Any:
    """The counter-state upsert, built once per dialect (the values come as parameters).

    A compare-and-set on ``seq``: a row is only replaced by a newer one. A process whose view of the
    counter is stale (another process pressed it since) writes nothing and is told so.
    """
    if dialect not in _SAVE_COUNTER:
        t = schema.counter_states
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t)
        _SAVE_COUNTER[dialect] = ins.on_conflict_do_update(
            index_elements=[t.c.office, t.c.counter],
            set_={c.name: ins.excluded[c.name] for c in t.c if c.name not in ("office", "counter")},
            where=t.c.seq < ins.excluded.seq).returning(t.c.seq)
    return _SAVE_COUNTER[dialect]


class Tx:
    """One store transaction. Nothing it writes is visible, or durable, before the commit."""

    def __init__(self, conn: Connection, engine: Engine | None = None) -> None:
        self.conn = conn
        self._engine = engine
        self.last_event_seq = 0
        self.event_seqs: list[int] = []

    # --- commands (exactly-once) ------------------------------------------------------------------

    def command_result(self, office: str, command_id: str) -> dict[str, Any] | None:
        # The service looks every command id up: one constant statement, so it is built and compiled once.
        row = self.conn.execute(_SELECT_COMMAND, {"office": office, "command_id": command_id}).first()
        return None if row is None else dict(row[0])

    def record_command(self, office: str, command_id: str, result: Mapping[str, Any], at: dt.datetime) -> None:
        """Raises :class:`IntegrityError` when the id was recorded meanwhile (another process)."""
        # Constant statements with parameter dicts: SQLAlchemy compiles each shape once.
        self.conn.execute(_INSERT_COMMAND, {"office": office, "command_id": command_id, "at": at,
                                            "result": dict(result)})

    # --- numbers ---------------------------------------------------------------------------------

    def draw_number(self, office: str, service: str, day: dt.date, range_name: str, number_range: NumberRange) -> int:
        """The next number of ``range_name`` for ``service`` on ``day``: one atomic upsert on both stores.

        Raises :class:`server.core.numbering.NumbersExhausted` past the range (the caller rolls back).
        """
        stmt = _draw_statement(self.conn.dialect.name)
        params = {"office": office, "service": service, "day": day, "range": range_name, "last": number_range.first}
        if self.conn.dialect.name == "postgresql" and self._engine is not None:
            # In a short transaction of its own: a group-commit batch holding the counter row while
            # another process's batch waits for it (and it for one of theirs) would deadlock. A
            # batch that fails later leaves a gap in the numbers, never a duplicate.
            with self._engine.connect() as own, own.begin():
                # No fsync of its own: the batch's (synchronous) commit comes later in the same WAL and
                # flushes this record too, so a durable ticket always has a durable draw (and with a
                # synchronous standby that commit waits until the standby has both: a promoted
                # standby never draws a printed number again).
                own.exec_driver_sql("SET LOCAL synchronous_commit = off")
                drawn = int(own.execute(stmt, params).scalar_one())
        else:
            drawn = int(self.conn.execute(stmt, params).scalar_one())
        # The core decides what is legal: the draw is ``next_number`` of the previous value.
        return next_number(None if drawn == number_range.first else drawn - 1, number_range, service)

    def count_issued(self, office: str, service: str, day: dt.date) -> int:
        t = schema.tickets
        return int(self.conn.execute(
            select(func.count()).select_from(t).where(t.c.office == office, t.c.number_service == service,
                                                      t.c.day == day)
        ).scalar_one())

    def number_taken(self, office: str, service: str, day: dt.date, number: int) -> bool:
        t = schema.tickets
        return self.conn.execute(
            select(t.c.id).where(t.c.office == office, t.c.number_service == service, t.c.day == day,
                                 t.c.number == number)
        ).first() is not None

    # --- tickets ---------------------------------------------------------------------------------

    def insert_ticket(self, rec: TicketRecord) -> None:
        self.conn.execute(_INSERT_TICKET, _ticket_values(rec))

    def update_ticket(self, rec: TicketRecord, *, expected_version: int) -> bool:
        """Compare-and-set: write ``rec`` only if the row still has ``expected_version``.

        ``rec.version`` must be ``expected_version + 1``. Returns False (and writes nothing) when
        another transaction changed the ticket first.
        """
        if self.conn.dialect.name == "postgresql":
            # Take the row lock without waiting: a row another transaction holds is a lost race
            # (waiting would let two group-commit batches deadlock on rows taken in other orders).
            t = schema.tickets
            # Read first, lock only a row that still matches: a stale caller must not hold (even
            # briefly) the lock of a ticket another counter now owns.
            current = self.conn.execute(select(t.c.version).where(t.c.id == rec.ticket.id)).scalar()
            if current != expected_version:
                return False
            # In a savepoint: if the row changed between the read and the lock, PostgreSQL may keep
            # a lock on the newer row version without returning it; rolling the savepoint back lets
            # go of it, so the counter that owns the ticket now is never blocked by our attempt.
            attempt = self.conn.begin_nested()
            got = self.conn.execute(
                select(t.c.id).where(t.c.id == rec.ticket.id, t.c.version == expected_version)
                .with_for_update(skip_locked=True)).first()
            if got is None:
                attempt.rollback()
                return False
            attempt.commit()
        values = _ticket_values(rec)
        values["w_id"] = values.pop("id")
        values["w_version"] = expected_version
        res = self.conn.execute(_UPDATE_TICKET, values)
        return res.rowcount == 1

    def ticket(self, ticket_id: str) -> TicketRecord | None:
        row = self.conn.execute(select(schema.tickets).where(schema.tickets.c.id == ticket_id)).mappings().first()
        return None if row is None else _ticket_from_row(row)

    # --- events ----------------------------------------------------------------------------------

    def append_event(self, kind: str, *, office: str, at: dt.datetime, ticket_id: str | None = None,
                     service: str | None = None, counter: str | None = None, operator: str | None = None,
                     data: Mapping[str, Any] | None = None) -> int:
        res = self.conn.execute(_INSERT_EVENT, {
            "kind": str(kind), "office": office, "ticket_id": ticket_id, "service": service, "counter": counter,
            "operator": operator, "at": at, "data": dict(data or {})})
        seq = int(res.inserted_primary_key[0]) if res.inserted_primary_key else 0
        self.last_event_seq = max(self.last_event_seq, seq)
        self.event_seqs.append(seq)
        return seq

    # --- counters --------------------------------------------------------------------------------

    def save_counter(self, office: str, row: CounterRow) -> bool:
        """Write ``row`` unless the stored row is as new or newer (``seq``); False: nothing written."""
        values = dataclasses.asdict(row)
        values["office"] = office
        # RETURNING, not rowcount: psycopg reports no rowcount for an upsert.
        return self.conn.execute(_save_counter_statement(self.conn.dialect.name), values).first() is not None

    # --- appointments and ratings ----------------------------------------------------------------

    def insert_appointment(self, *, code: str, office: str, service: str, slot: dt.datetime, source: str,
                           at: dt.datetime, seat: int | None = None) -> bool:
        """Book ``seat`` of ``slot``; False when another transaction holds that place (nothing written)."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(schema.appointments).values(
                    code=code, office=office, service=service, slot=slot, status="booked", source=source,
                    created_at=at, seat=seat))
        except IntegrityError:
            if seat is None:
                raise
            return False
        return True

    def seats_held(self, office: str, service: str, slot: dt.datetime) -> set[int]:
        """The places of ``slot`` held by a booked or checked-in appointment."""
        a = schema.appointments
        rows = self.conn.execute(select(a.c.seat).where(
            a.c.office == office, a.c.service == service, a.c.slot == slot, a.c.seat.is_not(None),
            a.c.status.in_(("booked", "checked_in")))).all()
        return {int(r[0]) for r in rows}

    def appointment(self, office: str, code: str) -> Mapping[str, Any] | None:
        a = schema.appointments
        row = self.conn.execute(select(a).where(a.c.office == office, a.c.code == code)).mappings().first()
        return None if row is None else dict(row)

    def appointments_taken(self, office: str, service: str, start: dt.datetime,
                           end: dt.datetime) -> dict[dt.datetime, int]:
        return _appointments_taken(self.conn, office, service, start, end)

    def cancel_appointment(self, office: str, code: str) -> bool:
        """A booked (not yet checked-in) appointment gives its place back."""
        a = schema.appointments
        res = self.conn.execute(update(a).where(a.c.office == office, a.c.code == code, a.c.status == "booked")
                                .values(status="cancelled"))
        return res.rowcount == 1

    def mark_missed(self, code: str) -> bool:
        a = schema.appointments
        res = self.conn.execute(update(a).where(a.c.code == code, a.c.status == "booked").values(status="missed"))
        return res.rowcount == 1

    def mark_checked_in(self, code: str, ticket_id: str) -> bool:
        a = schema.appointments
        # A visitor marked missed may still come: they get a walk-in ticket, and the booking is used.
        res = self.conn.execute(update(a).where(a.c.code == code, a.c.status.in_(("booked", "missed")))
                                .values(status="checked_in", ticket_id=ticket_id))
        return res.rowcount == 1

    def insert_rating(self, *, ticket_id: str, office: str, service: str, counter: str | None,
                      operator: str | None, score: int, at: dt.datetime) -> None:
        self.conn.execute(insert(schema.ratings).values(ticket_id=ticket_id, office=office, service=service,
                                                        counter=counter, operator=operator, score=score, at=at))

    def rated(self, ticket_id: str) -> bool:
        r = schema.ratings
        return self.conn.execute(select(r.c.ticket_id).where(r.c.ticket_id == ticket_id)).first() is not None


_SQLITE_WAIT_S = 30.0
# A plain Lock (not an RLock): a group commit may be finished by another thread than the one
# that began it. Never open a transaction while holding a batch on the same thread.
_FILE_LOCKS: dict[Path, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path.resolve(), threading.Lock())


def _appointments_taken(conn: Connection, office: str, service: str, start: dt.datetime,
                        end: dt.datetime) -> dict[dt.datetime, int]:
    """Places taken per slot start in ``[start, end)``: booked and checked-in appointments."""
    a = schema.appointments
    rows = conn.execute(select(a.c.slot, func.count()).where(
        a.c.office == office, a.c.service == service, a.c.slot >= start, a.c.slot < end,
        a.c.status.in_(("booked", "checked_in"))).group_by(a.c.slot)).all()
    return {slot: int(n) for slot, n in rows}


class _NoLock:
    """PostgreSQL takes many writers at once: nothing to queue on."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class Batch:
    """One open write transaction shared by several operations (group commit).

    Each operation runs in :meth:`savepoint`: its failure undoes only its own writes. Nothing is
    durable, or visible to other connections, before :meth:`commit`; the batch may be committed
    by another thread than the one that opened it.
    """

    def __init__(self, store: Store) -> None:
        self._lock = store._writer
        self._engine = store.engine
        self._lock.__enter__()
        try:
            self.conn = store.engine.connect()
            self._trans = self.conn.begin()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.notices: list[Any] = []
        self.ops = 0
        self.closed = False

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[Tx]:
        nested = self.conn.begin_nested()
        try:
            yield Tx(self.conn, self._engine)
        except BaseException:
            nested.rollback()
            raise
        nested.commit()
        self.ops += 1

    def commit(self) -> None:
        try:
            self._trans.commit()
        finally:
            self._close()

    def rollback(self) -> None:
        try:
            self._trans.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.conn.close()
        finally:
            self._lock.__exit__(None, None, None)


class Store:
    """Opens (and migrates) the database at ``url``: ``sqlite:///FILE`` or ``postgresql+psycopg://...``."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 8) -> None:
        self.url = url
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time: writers of this process queue on a lock instead of polling.
        self._writer: contextlib.AbstractContextManager[Any] = (
            _file_lock(path) if path is not None else _NoLock())
        self.engine: Engine = self._make_engine(url, pool_size)
        self.dialect = self.engine.dialect.name
        if migrate:
            self.migrate()

    @staticmethod
    def _make_engine(url: str, pool_size: int) -> Engine:
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            if _sqlite_path(url) is None:
                raise ValueError("an in-memory SQLite store loses every ticket; give a file: sqlite:///path.db")
            engine = create_engine(url, pool_size=pool_size, max_overflow=16, pool_pre_ping=False,
                                   connect_args={"check_same_thread": False, "timeout": 30})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # Let us issue BEGIN ourselves (pysqlite's own BEGIN is deferred and late).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")  # a commit is on disk before it returns
                # Writers wait in _on_begin with short sleeps; SQLite's own busy handler sleeps up to
                # 100 ms at a time, which would stall "next" whenever two processes write at once.
                cur.execute("PRAGMA busy_timeout=0")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                # IMMEDIATE takes the write lock up front: a writer never fails half-way on upgrade.
                if conn.get_execution_options().get("cherga_read"):
                    conn.exec_driver_sql("BEGIN DEFERRED")
                    return
                deadline = time.monotonic() + _SQLITE_WAIT_S
                pause = 0.0002
                while True:
                    try:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                        return
                    except OperationalError as exc:
                        if "locked" not in str(exc) and "busy" not in str(exc):
                            raise
                        if time.monotonic() > deadline:
                            raise
                    time.sleep(pause)
                    pause = min(pause * 2, 0.004)

            return engine
        if backend == "postgresql":
            return create_engine(url, pool_size=pool_size, max_overflow=32, pool_pre_ping=True)
        # Anything else SQLAlchemy speaks is untested; refuse rather than surprise.
        raise ValueError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql+psycopg://...")

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``, the newest by default (idempotent; safe with several processes on PG)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One migrator at a time when several server processes start together.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242)")
            cfg.attributes["connection"] = conn
            alembic_command.upgrade(cfg, revision)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction, committed (durably) on a clean exit and rolled back on an exception."""
        with self._writer, self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    def open_batch(self) -> Batch:
        """A write transaction several operations share, each in a savepoint (group commit)."""
        return Batch(self)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(cherga_read=True)
            with conn.begin():
                yield conn

    # --- reads -----------------------------------------------------------------------------------

    def active_tickets(self, office: str) -> list[TicketRecord]:
        t = schema.tickets
        with self.reading() as conn:
            rows = conn.execute(select(t).where(t.c.office == office, t.c.status.in_(ACTIVE))).mappings().all()
        return [_ticket_from_row(r) for r in rows]

    def ticket(self, ticket_id: str) -> TicketRecord | None:
        with self.reading() as conn:
            return Tx(conn).ticket(ticket_id)

    def ticket_by_token(self, token: str) -> TicketRecord | None:
        t = schema.tickets
        with self.reading() as conn:
            row = conn.execute(select(t).where(t.c.token == token)).mappings().first()
        return None if row is None else _ticket_from_row(row)

    def tickets(self, office: str) -> list[TicketRecord]:
        t = schema.tickets
        with self.reading() as conn:
            rows = conn.execute(select(t).where(t.c.office == office).order_by(t.c.issued_at)).mappings().all()
        return [_ticket_from_row(r) for r in rows]

    def counter_rows(self, office: str) -> list[CounterRow]:
        c = schema.counter_states
        with self.reading() as conn:
            rows = conn.execute(select(c).where(c.c.office == office)).mappings().all()
        return [CounterRow(**{k: v for k, v in r.items() if k != "office"}) for r in rows]

    def recent_calls(self, office: str, limit: int) -> list[Mapping[str, Any]]:
        e = schema.events
        with self.reading() as conn:
            rows = conn.execute(
                select(e).where(e.c.office == office, e.c.kind.in_(("called", "recalled")))
                .order_by(e.c.seq.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def events(self, office: str | None = None, *, since_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        e = schema.events
        q = select(e).where(e.c.seq > since_seq).order_by(e.c.seq)
        if office is not None:
            q = q.where(e.c.office == office)
        if limit is not None:
            q = q.limit(limit)
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def recent_event_tickets(self, office: str, after_seq: int) -> list[tuple[int, str | None]]:
        """(seq, ticket id) of the events after ``after_seq``: what other processes touched."""
        e = schema.events
        with self.reading() as conn:
            rows = conn.execute(select(e.c.seq, e.c.ticket_id).where(e.c.office == office, e.c.seq > after_seq)
                                .order_by(e.c.seq)).all()
        return [(int(r[0]), r[1]) for r in rows]

    def tickets_by_id(self, ids: Sequence[str]) -> list[TicketRecord]:
        t = schema.tickets
        with self.reading() as conn:
            rows = conn.execute(select(t).where(t.c.id.in_(list(ids)))).mappings().all()
        return [_ticket_from_row(r) for r in rows]

    def appointments_taken(self, office: str, service: str, start: dt.datetime,
                           end: dt.datetime) -> dict[dt.datetime, int]:
        with self.reading() as conn:
            return _appointments_taken(conn, office, service, start, end)

    def appointments_between(self, office: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Every appointment with a slot in ``[start, end)``, by slot (the hall manager's day list)."""
        a = schema.appointments
        with self.reading() as conn:
            rows = conn.execute(select(a).where(a.c.office == office, a.c.slot >= start, a.c.slot < end)
                                .order_by(a.c.slot, a.c.code)).mappings().all()
        return [dict(r) for r in rows]

    def booked_before(self, office: str, slot_before: dt.datetime) -> list[dict[str, Any]]:
        """Appointments still ``booked`` whose slot is before ``slot_before`` (nobody came)."""
        a = schema.appointments
        with self.reading() as conn:
            rows = conn.execute(select(a).where(a.c.office == office, a.c.status == "booked",
                                                a.c.slot < slot_before)).mappings().all()
        return [dict(r) for r in rows]

    def max_event_seq(self, office: str) -> int:
        e = schema.events
        with self.reading() as conn:
            return int(conn.execute(select(func.coalesce(func.max(e.c.seq), 0)).where(e.c.office == office))
                       .scalar_one())

    def count_tickets(self) -> int:
        with self.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.tickets)).scalar_one())

    # --- staff accounts --------------------------------------------------------------------------

    def put_staff(self, *, username: str, display_name: str, role: str, password_hash: str | None,
                  pin_hash: str | None, at: dt.datetime, pin_tag: str | None = None,
                  offices: tuple[str, ...] | list[str] | None = None) -> None:
        s = schema.staff
        values = dict(username=username, display_name=display_name, role=role, password_hash=password_hash,
                      pin_hash=pin_hash, pin_tag=pin_tag, active=True, created_at=at, offices=offices_column(offices))
        with self.transaction() as tx:
            stmt = _insert_for(tx.conn)(s).values(**values).on_conflict_do_update(
                index_elements=[s.c.username],
                set_={k: v for k, v in values.items() if k not in ("username", "created_at")})
            tx.conn.execute(stmt)

    def staff(self, username: str) -> StaffAccount | None:
        s = schema.staff
        with self.reading() as conn:
            row = conn.execute(select(s).where(s.c.username == username)).mappings().first()
        return None if row is None else StaffAccount(row["username"], row["display_name"], row["role"],
                                                      row["password_hash"], row["pin_hash"], row["active"],
                                                      offices_of(row["offices"]))

    def staff_with_pin_tag(self, tag: str) -> list[StaffAccount]:
        """Accounts whose PIN carries ``tag``, and older accounts that have no tag yet."""
        s = schema.staff
        with self.reading() as conn:
            rows = conn.execute(select(s).where((s.c.pin_tag == tag) | (s.c.pin_tag.is_(None) & s.c.pin_hash.isnot(None)))
                                .order_by(s.c.username)).mappings().all()
        return [StaffAccount(r["username"], r["display_name"], r["role"], r["password_hash"], r["pin_hash"],
                             r["active"], offices_of(r["offices"])) for r in rows]

    def all_staff(self) -> list[StaffAccount]:
        s = schema.staff
        with self.reading() as conn:
            rows = conn.execute(select(s).order_by(s.c.username)).mappings().all()
        return [StaffAccount(r["username"], r["display_name"], r["role"], r["password_hash"], r["pin_hash"],
                             r["active"], offices_of(r["offices"])) for r in rows]

    def add_session(self, token: str, username: str, at: dt.datetime, expires_at: dt.datetime) -> None:
        with self.transaction() as tx:
            tx.conn.execute(insert(schema.sessions).values(token_hash=_hash_token(token), username=username,
                                                           created_at=at, expires_at=expires_at))

    def session_user(self, token: str, now: dt.datetime) -> str | None:
        s = schema.sessions
        with self.reading() as conn:
            row = conn.execute(select(s.c.username, s.c.expires_at).where(s.c.token_hash == _hash_token(token))).first()
        if row is None or row[1] <= now:
            return None
        return str(row[0])

    def drop_session(self, token: str) -> None:
        s = schema.sessions
        with self.transaction() as tx:
            tx.conn.execute(s.delete().where(s.c.token_hash == _hash_token(token)))


def _hash_token(token: str) -> str:
    # Only a digest is stored: a stolen database holds no usable bearer token.
    return hashlib.sha256(token.encode()).hexdigest()


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def ticket_ids_called(store: Store, office: str) -> Sequence[str]:
    """Every ticket id with a ``called`` event, in log order (tests and audits: duplicates show)."""
    return [e["ticket_id"] for e in store.events(office) if e["kind"] == "called"]


