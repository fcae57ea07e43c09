"""The node's persistent outbox: commands that may wait while the broker or server is away.

A SQLite file in the node's data directory. Each entry keeps the exact bytes first built for it
(so a resend carries the original command id, and the server applies it once), the topic, and an
expiry. An entry leaves when its reply arrives (:meth:`Outbox.ack`) or when it expires.
Real-time commands ("next") are never stored here: the session refuses them while offline.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    route: str
    topic: str
    payload: bytes
    created_at: float
    expires_at: float
    attempts: int


class Outbox:
    """A durable FIFO of commands keyed by command id.

    :param path: the SQLite file (created with its directory), or ``":memory:"``.
    :param clock: seconds since the epoch; injected so tests can age entries without sleeping.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged 'saved' must survive power loss
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, route TEXT NOT NULL, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0)"
        )

    def put(self, id: str, route: str, topic: str, payload: bytes, ttl_s: float) -> None:
        """Store a command; a second ``put`` of the same id keeps the first (ids are unique)."""
        now = self._clock()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, route, topic, payload, created_at, expires_at) VALUES (?,?,?,?,?,?)",
                (id, route, topic, payload, now, now + ttl_s),
            )

    def pending(self) -> list[OutboxEntry]:
        """Entries still to deliver, oldest first (expired ones are not included)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, route, topic, payload, created_at, expires_at, attempts FROM outbox"
                " WHERE expires_at > ? ORDER BY created_at, rowid", (self._clock(),)
            ).fetchall()
        return [OutboxEntry(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6]) for r in rows]

    def mark_sent(self, id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (id,))

    def ack(self, id: str) -> bool:
        """The server answered ``id``: forget it. True when it was waiting here."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE id = ?", (id,))
        return cur.rowcount > 0

    def purge_expired(self) -> list[OutboxEntry]:
        """Drop and return the entries whose time is up."""
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, route, topic, payload, created_at, expires_at, attempts FROM outbox WHERE expires_at <= ?",
                (now,),
            ).fetchall()
            self._db.execute("DELETE FROM outbox WHERE expires_at <= ?", (now,))
        return [OutboxEntry(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6]) for r in rows]

    def __contains__(self, id: object) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM outbox WHERE id = ?", (id,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE expires_at > ?", (self._clock(),)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
