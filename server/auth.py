"""Staff accounts: roles, argon2-hashed passwords and PINs, bearer tokens.

Roles: ``operator`` (works a counter), ``hall_manager`` (also issues tickets on a visitor's
behalf, cancels tickets), ``admin`` (everything). Each account is for some offices or for every
office (``staff.offices``, issue 21): :func:`require_office` refuses the others. A password gives a bearer token for the REST
API (only its SHA-256 is stored); a PIN signs an operator in at a counter pad.

Sign-in is throttled per account and per address (:mod:`cherga.server.security.throttle`), every
argon2 computation runs on the bounded pool of :mod:`cherga.server.security.hashing`, sessions are
bound to the issuing office and expire when idle (:mod:`cherga.server.security.sessions`), and every
sign-in and refusal is in the audit log (:mod:`cherga.server.security.audit`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cherga.server.errors import Forbidden, Invalid, Unauthorized
from cherga.server.security import audit, context, hashing, sessions, throttle
from cherga.server.store import StaffAccount, Store, Tx

Role = Literal["operator", "hall_manager", "admin"]
ROLES: tuple[Role, ...] = ("operator", "hall_manager", "admin")
TOKEN_TTL = sessions.TOKEN_TTL
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_OFFICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")

# Modest cost: a Pi-class server signs people in, it does not stand a password-cracking farm.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_secret(secret: str) -> str:
    return hashing.run(_hasher.hash, secret)


# The tag is argon2id too, with a fixed salt: a lookup key costs a guesser as much per PIN as the
# salted hash does, while a sign-in tries one account instead of every account (~20 ms each).
_PIN_TAG_SALT = b"cherga-pin-tag-v1"


def pin_tag(pin: str) -> str:
    """A lookup key for a PIN: the same PIN gives the same tag, in one argon2id computation."""
    from argon2.low_level import Type, hash_secret_raw

    raw = hash_secret_raw(pin.encode(), _PIN_TAG_SALT, time_cost=2, memory_cost=19 * 1024, parallelism=1,
                          hash_len=16, type=Type.ID)
    return raw.hex()


def verify_secret(hashed: str | None, secret: str) -> bool:
    if not hashed:
        return False
    try:
        return _hasher.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def create_account(store: Store, *, username: str, role: str, password: str | None = None,
                   pin: str | None = None, display_name: str | None = None,
                   now: dt.datetime | None = None, offices: tuple[str, ...] | list[str] | None = None) -> StaffAccount:
    """Create or replace a staff account; ``offices``: the offices it may act on (``None``: every office)."""
    if not _USERNAME.match(username):
        raise Invalid("bad_username", "username: 2–64 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise Invalid("bad_role", f"role must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise Invalid("weak_password", "a password needs at least 8 characters")
    if pin is not None and not re.fullmatch(r"[0-9]{4,12}", pin):
        raise Invalid("bad_pin", "a PIN is 4–12 digits")
    store.put_staff(username=username, display_name=display_name or username, role=role,
                    password_hash=hash_secret(password) if password else None,
                    pin_hash=hash_secret(pin) if pin else None, pin_tag=hashing.run(pin_tag, pin) if pin else None,
                    at=now or dt.datetime.now(dt.UTC), offices=offices)
    account = store.staff(username)
    assert account is not None
    return account


def _dummy_hash() -> str:
    """A real hash of nothing anyone knows: an unknown name costs the same argon2 work as a known one."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hashing.run(_hasher.hash, secrets.token_urlsafe(16))
    return _DUMMY


_DUMMY: str | None = None


def login(store: Store, username: str, password: str, now: dt.datetime, *, address: str | None = None,
          office: str | None = None) -> tuple[str, StaffAccount, dt.datetime]:
    """Check a password; returns (bearer token, account, expiry).

    ``address`` and ``office`` default to the current request's (:mod:`cherga.server.security.context`).
    Refuses with :class:`~cherga.server.security.throttle.TooManyAttempts` (429) while the account or the
    address is locked after wrong passwords (the right password too), and with
    :class:`~cherga.server.security.hashing.HashingBusy` (503) when too many sign-ins wait at once.
    An unknown name, an inactive account and a wrong password all cost one argon2 verification and
    answer the same ``bad_credentials``: neither the answer nor its time says which names exist.
    """
    ctx = context.current()
    if ctx is not None:
        address = address or ctx.address
        office = office or ctx.office
        ctx.audited = True
    username = username[:64]
    try:
        throttle.check(store, username, address, now)
    except throttle.TooManyAttempts:
        audit.record(store, "sign_in_locked", at=now, outcome="refused", actor=username, address=address,
                     office=office)
        raise
    account = store.staff(username)
    usable = account is not None and account.active and bool(account.password_hash)
    stored = account.password_hash if usable and account is not None else _dummy_hash()
    try:
        good = hashing.run(verify_secret, stored, password) and usable
    except hashing.HashingBusy:
        audit.record(store, "sign_in_busy", at=now, outcome="refused", actor=username, address=address, office=office)
        raise
    if not good or account is None:
        locked = throttle.failed(store, username, address, now)
        audit.record(store, "sign_in_refused", at=now, outcome="refused", actor=username, address=address,
                     office=office, data={"locked_until": locked.isoformat()} if locked else None)
        raise Unauthorized("bad_credentials", "unknown user or wrong password")
    throttle.succeeded(store, username)
    token = secrets.token_urlsafe(32)
    expires = sessions.create(store, token, account.username, now, office)
    audit.record(store, "sign_in", at=now, actor=account.username, address=address, office=office,
                 data={"role": account.role})
    if ctx is not None:
        ctx.staff = account
    return token, account, expires


def account_for_token(store: Store, token: str, now: dt.datetime, *, office: str | None = None) -> StaffAccount:
    """The account a bearer token belongs to (one indexed read, no cache: a logout counts at once everywhere).

    ``office`` defaults to the current request's: a token another office's server issued is refused
    (a server that runs several offices takes a token any of them issued: ``ctx.served``).
    """
    ctx = context.current()
    bound: str | tuple[str, ...] | None = office
    if ctx is not None and office is None:
        bound = ctx.served or ctx.office
    account = sessions.lookup(store, token, now, bound)
    if account is None:
        raise Unauthorized("bad_token", "the bearer token is unknown or expired; sign in again")
    if ctx is not None:
        ctx.staff = account
    return account


def forget_token(store: Store, token: str) -> None:
    """Revoke a token (every server process refuses it from now on)."""
    sessions.drop(store, token)


def require_role(account: StaffAccount, *roles: str) -> None:
    if account.role != "admin" and account.role not in roles:
        raise Forbidden("forbidden", f"role {account.role!r} may not do this")


def require_office(account: StaffAccount, office: str) -> None:
    """Refuse an account acting on an office it is not for (issue 21); an account for every office passes."""
    if not account.may_act_on(office):
        raise Forbidden("office_forbidden", f"account {account.username!r} is not for office {office!r}",
                        params={"office": office})


def parse_offices(text: str | None) -> tuple[str, ...] | None:
    """An account's offices as typed (``"a,b"`` or ``"a b"``; empty, ``"*"`` or ``"all"``: every office)."""
    if text is None:
        return None
    ids = tuple(dict.fromkeys(p for p in re.split(r"[\s,]+", text.strip()) if p))
    if not ids or ids in (("*",), ("all",)):
        return None
    bad = [i for i in ids if not _OFFICE_ID.match(i)]
    if bad:
        raise Invalid("bad_office", f"not an office id: {', '.join(bad)}")
    return ids


def verify_sign_in(store: Store, *, operator: str | None, pin: str | None, authenticated: bool,
                   where: str | None = None, now: dt.datetime | None = None, tx: Tx | None = None) -> StaffAccount:
    """Who signs in at a counter: a proven ``operator`` (REST token), or an operator's PIN (pads).

    ``where`` (the counter): wrong PINs there lock PIN sign-in at it for a growing time
    (:data:`~cherga.server.security.throttle.pins`, shared by every server process), the right PIN
    included. A wrong PIN raises :class:`~cherga.server.security.throttle.WrongPin`: the caller counts
    it after its transaction ``tx`` has rolled back; a right one forgets the failures in ``tx``.
    """
    named: StaffAccount | None = None
    if operator is not None:
        named = store.staff(operator)
        if named is None or not named.active:
            raise Unauthorized("unknown_operator", f"no staff account {operator!r}")
        if authenticated:
            return named
    if pin is None:
        raise Unauthorized("pin_required", "signing in needs a PIN")
    at = now or dt.datetime.now(dt.UTC)
    place = where or "?"
    throttle.pins.check(store, place, at)
    if named is not None:
        found = named if hashing.run(verify_secret, named.pin_hash, pin) else None
    else:
        found = next((a for a in store.staff_with_pin_tag(hashing.run(pin_tag, pin))
                      if a.active and hashing.run(verify_secret, a.pin_hash, pin)), None)
    if found is None:
        raise throttle.WrongPin(place, at, "wrong PIN" if operator is not None else "no operator has this PIN")
    if tx is not None:
        throttle.pins.succeeded(tx.conn, place)
    else:
        with store.transaction() as own:
            throttle.pins.succeeded(own.conn, place)
    return found
