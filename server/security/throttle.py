"""Sign-in throttling: wrong passwords per account and per address, wrong PINs per counter.

Passwords (web and REST): every wrong password (for a name that exists or not, so a lock tells an
attacker nothing) counts against ``user:NAME`` and ``addr:IP`` in the store's ``auth_throttle``
table, which every server process on the database shares. The first ``free`` failures within
``WINDOW`` cost nothing; each one after locks the key for a growing time (``BASE_LOCK`` doubled per
failure, at most ``MAX_LOCK``). While a key is locked, a sign-in is refused *before* the password
is looked at, so the right password is refused too and costs no argon2 work. A good sign-in
forgets the account's failures (not the address's: one valid account must not unlock guessing at
the others).

PINs (counter pads): the same table, key ``pin:OFFICE/COUNTER``, so that server processes sharing
a pad's commands (``cherga server --instance``: an MQTT shared subscription hands each command to
one of them) count one budget: two processes no longer give a guesser twice the tries. The PIN is
checked inside the service's transaction, whose writes a refusal rolls back, so a wrong PIN raises
:class:`WrongPin` and the service records the failure after the rollback
(``Counters.counter_action``); a right PIN forgets the counter's failures in the sign-in's own
transaction.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cherga.server.db import schema
from cherga.server.errors import ServiceError, Unauthorized
from cherga.server.store import Store

__all__ = ["TooManyAttempts", "WrongPin", "check", "failed", "succeeded", "lock_seconds", "PinThrottle", "pins",
           "USER_FREE", "ADDR_FREE", "PIN_FREE"]

USER_FREE = 5  # wrong passwords per account before the first lock
ADDR_FREE = 10  # per address (a few staff may share a desk computer)
PIN_FREE = 5  # wrong PINs per counter
BASE_LOCK = dt.timedelta(seconds=30)
MAX_LOCK = dt.timedelta(minutes=15)
WINDOW = dt.timedelta(hours=1)  # failures older than this are forgotten


class TooManyAttempts(ServiceError):
    """Locked after too many wrong passwords or PINs (429); ``params``: seconds and minutes to wait."""

    status = 429

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        seconds = max(1, math.ceil((until - now).total_seconds()))
        super().__init__("too_many_attempts", f"too many wrong attempts; try again in {seconds} s",
                         params={"retry_after_s": seconds, "minutes": max(1, math.ceil(seconds / 60))})
        self.retry_after_s = seconds


def lock_seconds(failures: int, free: int) -> float:
    """How long ``failures`` wrong attempts lock a key that allows ``free`` (0: not locked)."""
    over = failures - free
    if over <= 0:
        return 0.0
    return min(MAX_LOCK.total_seconds(), BASE_LOCK.total_seconds() * 2 ** min(over - 1, 20))


def _keys(username: str | None, address: str | None) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    if username:
        keys.append((f"user:{username[:100]}", USER_FREE))
    if address:
        keys.append((f"addr:{address[:100]}", ADDR_FREE))
    return keys


def check(store: Store, username: str | None, address: str | None, now: dt.datetime) -> None:
    """Raise :class:`TooManyAttempts` while the account or the address is locked."""
    _check_keys(store, [k for k, _ in _keys(username, address)], now)


def _check_keys(store: Store, keys: list[str], now: dt.datetime) -> None:
    if not keys:
        return
    t = schema.auth_throttle
    with store.reading() as conn:
        rows = conn.execute(select(t.c.locked_until).where(t.c.key.in_(keys), t.c.locked_until > now)).all()
    if rows:
        raise TooManyAttempts(max(r[0] for r in rows), now)


def failed(store: Store, username: str | None, address: str | None, now: dt.datetime) -> dt.datetime | None:
    """Count a wrong password against the account and the address; returns the lock it caused, if any."""
    latest: dt.datetime | None = None
    with store.transaction() as tx:
        for key, free in _keys(username, address):
            until = _count_failure(tx.conn, key, free, now)
            if until is not None:
                latest = until if latest is None else max(latest, until)
    return latest


def _count_failure(conn: Connection, key: str, free: int, now: dt.datetime) -> dt.datetime | None:
    """One more failure for ``key``; returns the lock it caused, if any."""
    t = schema.auth_throttle
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(t).values(
        key=key, failures=1, last_failure_at=now, locked_until=None)
    # One statement per key: concurrent failures from several processes all count.
    stmt = ins.on_conflict_do_update(
        index_elements=[t.c.key],
        set_={"failures": case((t.c.last_failure_at > now - WINDOW, t.c.failures + 1), else_=1),
              "last_failure_at": now},
    ).returning(t.c.failures)
    failures = int(conn.execute(stmt).scalar_one())
    wait = lock_seconds(failures, free)
    if not wait:
        return None
    until = now + dt.timedelta(seconds=wait)
    conn.execute(t.update().where(t.c.key == key).values(locked_until=until))
    return until


def succeeded(store: Store, username: str) -> None:
    """A good sign-in: the account's failures are forgotten."""
    t = schema.auth_throttle
    with store.transaction() as tx:
        tx.conn.execute(t.delete().where(t.c.key == f"user:{username[:100]}"))


class WrongPin(Unauthorized):
    """A wrong PIN at ``where``: refused (``bad_pin``); the caller counts it once its transaction has
    rolled back (:meth:`PinThrottle.failed`)."""

    def __init__(self, where: str, at: dt.datetime, message: str) -> None:
        super().__init__("bad_pin", message)
        self.where, self.at = where, at


class PinThrottle:
    """Wrong PINs per counter, in the ``auth_throttle`` table every server process shares (see the
    module docstring)."""

    @staticmethod
    def _key(where: str) -> str:
        return f"pin:{where[:100]}"

    def check(self, store: Store, where: str, now: dt.datetime) -> None:
        """Raise :class:`TooManyAttempts` while PIN sign-in at ``where`` is locked."""
        _check_keys(store, [self._key(where)], now)

    def failed(self, store: Store, where: str, now: dt.datetime) -> dt.datetime | None:
        """Count a wrong PIN at ``where`` (in a transaction of its own); returns the lock it caused."""
        with store.transaction() as tx:
            return _count_failure(tx.conn, self._key(where), PIN_FREE, now)

    def succeeded(self, conn: Connection, where: str) -> None:
        """A right PIN: the failures at ``where`` are forgotten (in the caller's transaction)."""
        t = schema.auth_throttle
        conn.execute(t.delete().where(t.c.key == self._key(where)))


pins = PinThrottle()
