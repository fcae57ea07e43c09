"""Bearer sessions: bound to the office whose server issued them, with absolute and idle expiry.

Only a token's SHA-256 is stored. Every use looks the session up by that digest (the table's
primary key) joined with the account, in one indexed read: no per-process cache, so a token
logged out on one server process stops working on every process at once, and a disabled account
at once too. ``last_seen_at`` is written at most once per ``TOUCH_EVERY`` per token, so a counter
pressing "next" every few seconds costs one small write a minute, not one per press.

A session row names the office of the server that issued it; a server serving another office on
the same database refuses it (one regional PostgreSQL, several offices' servers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection

from sqlalchemy import insert, select

from cherga.server.db import schema
from cherga.server.store import StaffAccount, Store, offices_of

__all__ = ["TOKEN_TTL", "IDLE_TTL", "create", "lookup", "drop", "digest"]

TOKEN_TTL = dt.timedelta(hours=12)  # a working day and a bit: sign in once per shift
IDLE_TTL = dt.timedelta(hours=2)  # a panel left open over lunch stays; one left overnight does not
TOUCH_EVERY = dt.timedelta(seconds=60)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(store: Store, token: str, username: str, now: dt.datetime, office: str | None) -> dt.datetime:
    """Store a new session; returns when it expires at the latest."""
    expires = now + TOKEN_TTL
    with store.transaction() as tx:
        tx.conn.execute(insert(schema.sessions).values(token_hash=digest(token), username=username, created_at=now,
                                                       expires_at=expires, office=office, last_seen_at=now))
    return expires


def lookup(store: Store, token: str, now: dt.datetime, office: str | Collection[str] | None) -> StaffAccount | None:
    """The active account of a live session of ``office`` (any office when ``None``), or ``None``.

    ``office`` may be the offices of a server that runs several (issue 21): a session any of them
    issued is good on all of them; what the account may do there is :meth:`StaffAccount.may_act_on`'s.
    """
    s, st = schema.sessions, schema.staff
    key = digest(token)
    with store.reading() as conn:
        row = conn.execute(
            select(s.c.expires_at, s.c.office, s.c.last_seen_at, st.c.username, st.c.display_name, st.c.role,
                   st.c.password_hash, st.c.pin_hash, st.c.active, st.c.offices)
            .join(st, st.c.username == s.c.username).where(s.c.token_hash == key)).first()
    if row is None or row.expires_at <= now or not row.active:
        return None
    allowed = (office,) if isinstance(office, str) else office
    if allowed is not None and row.office not in allowed:
        return None  # another office's token (or one from before sessions were bound to an office)
    seen = row.last_seen_at
    if seen is not None and now - seen > IDLE_TTL:
        drop(store, token)
        return None
    if seen is None or now - seen >= TOUCH_EVERY:
        with store.transaction() as tx:
            tx.conn.execute(s.update().where(s.c.token_hash == key).values(last_seen_at=now))
    return StaffAccount(row.username, row.display_name, row.role, row.password_hash, row.pin_hash, row.active,
                        offices_of(row.offices))


def drop(store: Store, token: str) -> None:
    s = schema.sessions
    with store.transaction() as tx:
        tx.conn.execute(s.delete().where(s.c.token_hash == digest(token)))
