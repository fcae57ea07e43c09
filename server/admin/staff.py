"""Staff accounts as an administrator manages them: add, change the role, reset the password or
the PIN, lock and unlock (the administration pages and ``cherga staff`` both call these).

Checks are :func:`cherga.server.auth.create_account`'s (the same username, role, password and PIN
rules); a locked account signs in nowhere and its open sessions end at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from cherga.server import auth
from cherga.server.db import schema
from cherga.server.errors import Invalid, NotFound
from cherga.server.store import StaffAccount, Store, offices_column


def _account(store: Store, username: str) -> StaffAccount:
    account = store.staff(username)
    if account is None:
        raise NotFound("unknown_account", f"no staff account {username!r}")
    return account


def _update(store: Store, username: str, **values: object) -> None:
    s = schema.staff
    with store.transaction() as tx:
        tx.conn.execute(update(s).where(s.c.username == username).values(**values))


def _end_sessions(store: Store, username: str) -> None:
    s = schema.sessions
    with store.transaction() as tx:
        tx.conn.execute(s.delete().where(s.c.username == username))


def add(store: Store, *, username: str, role: str, display_name: str | None, password: str | None,
        pin: str | None, now: dt.datetime, offices: tuple[str, ...] | None = None) -> StaffAccount:
    """A new account; an existing username is refused (the CLI's ``add`` replaces on purpose)."""
    if store.staff(username) is not None:
        raise Invalid("account_exists", f"staff account {username!r} exists already")
    if not password and not pin:
        raise Invalid("no_secret", "give a password, a PIN or both")
    return auth.create_account(store, username=username, role=role, password=password or None, pin=pin or None,
                               display_name=display_name or None, now=now, offices=offices)


def set_role(store: Store, username: str, role: str) -> None:
    _account(store, username)
    if role not in auth.ROLES:
        raise Invalid("bad_role", f"role must be one of {', '.join(auth.ROLES)}")
    _update(store, username, role=role)
    _end_sessions(store, username)  # a session carries the role it was opened with


def set_offices(store: Store, username: str, offices: tuple[str, ...] | None) -> None:
    """The offices an account is for (``None``: every office). Checked on every use of its sessions."""
    _account(store, username)
    _update(store, username, offices=offices_column(offices))


def set_password(store: Store, username: str, password: str) -> None:
    _account(store, username)
    if len(password) < 8:
        raise Invalid("weak_password", "a password needs at least 8 characters")
    _update(store, username, password_hash=auth.hash_secret(password))
    _end_sessions(store, username)


def set_pin(store: Store, username: str, pin: str) -> None:
    import re

    _account(store, username)
    if not re.fullmatch(r"[0-9]{4,12}", pin):
        raise Invalid("bad_pin", "a PIN is 4–12 digits")
    _update(store, username, pin_hash=auth.hash_secret(pin), pin_tag=auth.pin_tag(pin))


def set_active(store: Store, username: str, active: bool) -> None:
    _account(store, username)
    _update(store, username, active=active)
    if not active:
        _end_sessions(store, username)
