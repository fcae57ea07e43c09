"""The audit log: every staff and administrator action and every node enrolment or refusal — who,
what, when, from where.

Append-only: this module has :func:`record` and :func:`entries`, and :func:`prune` for retention
only; migration 0007's triggers refuse any UPDATE and any DELETE of a row younger than
``AUDIT_FLOOR_DAYS`` on both databases, so not even a bug (or a person with the app's database
password and a SQL prompt, short of dropping the trigger) rewrites recent history.

What lands here:

* sign-ins (``sign_in``, ``sign_in_refused``, ``sign_in_locked``, ``sign_in_busy``) and sign-outs,
  by :mod:`cherga.server.auth` and the middleware;
* every request a signed-in staff member sends that changes something (POST/PUT/PATCH/DELETE to the
  panel, the reports, the REST API): ``action`` is ``METHOD /path``, ``outcome`` from the status;
* node enrolments and refusals (``node_enroll``, by :mod:`cherga.server.enrollment`).

Counter buttons pressed at a pad are in the event log already (``events``: who, which counter, when).

Retention: ``CHERGA_AUDIT_RETENTION_DAYS`` (default 365, never less than the floor); rows older are
deleted at most every six hours, when something is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select

from cherga.server.db import schema
from cherga.server.security import context
from cherga.server.store import Store

log = logging.getLogger(__name__)

__all__ = ["record", "entries", "flush", "prune", "retention_days", "AUDIT_FLOOR_DAYS", "COLUMNS"]

AUDIT_FLOOR_DAYS = 30  # migration 0007's triggers keep younger rows whatever the setting
PRUNE_EVERY_S = 6 * 3600
COLUMNS = ("seq", "at", "office", "actor", "actor_kind", "action", "target", "outcome", "address", "data")

_last_prune: dict[int, float] = {}
_prune_lock = threading.Lock()


def retention_days() -> int:
    try:
        days = int(os.environ.get("CHERGA_AUDIT_RETENTION_DAYS", "365"))
    except ValueError:
        days = 365
    return max(AUDIT_FLOOR_DAYS + 1, days)


def record(store: Store, action: str, *, at: dt.datetime, outcome: str = "ok", actor: str | None = None,
           actor_kind: str | None = None, target: str | None = None, office: str | None = None,
           address: str | None = None, data: Mapping[str, Any] | None = None, wait: bool = True) -> None:
    """Append one entry. ``office`` and ``address`` default to the current request's.

    ``wait=False`` (the middleware's record of every staff request, counter presses included): the
    entry is written by a background writer, many in one transaction, so a press costs no second
    fsync; :func:`entries` and :func:`flush` wait for what is queued. A crash may lose the last
    fraction of a second of such entries (the presses themselves are in the event log).

    Never raises: an audit failure is logged loudly, the action itself has already happened.
    """
    ctx = context.current()
    if ctx is not None:
        office = office or ctx.office
        address = address or ctx.address
    kind = actor_kind or ("staff" if actor else "anonymous")
    row = dict(at=at, office=office, actor=(actor or None) and actor[:64], actor_kind=kind, action=action[:64],
               target=(target or None) and target[:160], outcome=outcome[:16],
               address=(address or None) and address[:64], data=dict(data or {}))
    if not wait:
        _writer.put(store, row)
        return
    try:
        with store.transaction() as tx:
            tx.conn.execute(insert(schema.audit_log), [row])
    except Exception:
        log.exception("audit: could not record %s by %s", action, actor)
        return
    _maybe_prune(store, at)


class _Writer:
    """Writes queued entries in batches (one transaction per batch) on a daemon thread."""

    BATCH = 500
    GATHER_S = 0.2

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Store, dict[str, Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, store: Store, row: dict[str, Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cherga-audit", daemon=True)
                self._thread.start()
        self._queue.put((store, row))

    def flush(self) -> None:
        self._queue.join()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Gather what arrives meanwhile: under a stream of presses, a few commits a second, not one each.
            time.sleep(self.GATHER_S)
            while len(batch) < self.BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_store: dict[int, tuple[Store, list[dict[str, Any]]]] = {}
            for store, row in batch:
                by_store.setdefault(id(store), (store, []))[1].append(row)
            for store, rows in by_store.values():
                try:
                    with store.transaction() as tx:
                        tx.conn.execute(insert(schema.audit_log), rows)
                    _maybe_prune(store, rows[-1]["at"])
                except Exception:
                    log.exception("audit: could not record %d entries", len(rows))
            for _ in batch:
                self._queue.task_done()


_writer = _Writer()


def flush() -> None:
    """Wait until every queued entry is written."""
    _writer.flush()


def entries(store: Store, *, office: str | None = None, since: dt.datetime | None = None,
            until: dt.datetime | None = None, actor: str | None = None, limit: int = 1000,
            before_seq: int | None = None) -> list[dict[str, Any]]:
    """Entries newest first (at most ``limit``), filtered (queued entries written first)."""
    flush()
    a = schema.audit_log
    q = select(a).order_by(a.c.seq.desc()).limit(max(1, min(limit, 100_000)))
    if office is not None:
        q = q.where((a.c.office == office) | a.c.office.is_(None))
    if since is not None:
        q = q.where(a.c.at >= since)
    if until is not None:
        q = q.where(a.c.at < until)
    if actor:
        q = q.where(a.c.actor == actor)
    if before_seq is not None:
        q = q.where(a.c.seq < before_seq)
    with store.reading() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def count(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one())


def prune(store: Store, now: dt.datetime, days: int | None = None) -> int:
    """Delete entries older than the retention period; returns how many."""
    keep = max(AUDIT_FLOOR_DAYS + 1, days if days is not None else retention_days())
    a = schema.audit_log
    with store.transaction() as tx:
        return int(tx.conn.execute(a.delete().where(a.c.at < now - dt.timedelta(days=keep))).rowcount or 0)


def _maybe_prune(store: Store, now: dt.datetime) -> None:
    with _prune_lock:
        last = _last_prune.get(id(store))
        if last is not None and time.monotonic() - last < PRUNE_EVERY_S:
            return
        _last_prune[id(store)] = time.monotonic()
    try:
        gone = prune(store, now)
        if gone:
            log.info("audit: retention removed %d entries", gone)
    except Exception:
        log.exception("audit: retention failed")
