"""Staff accounts: roles, argon2-hashed passwords and PINs, bearer tokens.

Roles: ``operator`` (works a counter), ``hall_manager`` (also issues tickets on a visitor's
behalf, cancels tickets), ``admin`` (everything). A password gives a bearer token for the REST
API (only its SHA-256 is stored); a PIN signs an operator in at a counter pad.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cherga.server.errors import Forbidden, Invalid, Unauthorized
from cherga.server.store import StaffAccount, Store

Role = Literal["operator", "hall_manager", "admin"]
ROLES: tuple[Role, ...] = ("operator", "hall_manager", "admin")
TOKEN_TTL = dt.timedelta(hours=12)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")

# Modest cost: a Pi-class server signs people in, it does not stand a password-cracking farm.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


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
                   now: dt.datetime | None = None) -> StaffAccount:
    """Create or replace a staff account."""
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
                    pin_hash=hash_secret(pin) if pin else None, pin_tag=pin_tag(pin) if pin else None,
                    at=now or dt.datetime.now(dt.UTC))
    account = store.staff(username)
    assert account is not None
    return account


def login(store: Store, username: str, password: str, now: dt.datetime) -> tuple[str, StaffAccount, dt.datetime]:
    """Check a password; returns (bearer token, account, expiry)."""
    account = store.staff(username)
    if account is None or not account.active or not verify_secret(account.password_hash, password):
        raise Unauthorized("bad_credentials", "unknown user or wrong password")
    token = secrets.token_urlsafe(32)
    expires = now + TOKEN_TTL
    store.add_session(token, username, now, expires)
    return token, account, expires


# token -> (account, token expiry, when cached): counter buttons are pressed often, the database
# need not be asked each time. A revoked token or a changed account is seen within _CACHE_S.
_token_cache: dict[tuple[int, str], tuple[StaffAccount, dt.datetime, float]] = {}
_CACHE_S = 30.0


def account_for_token(store: Store, token: str, now: dt.datetime) -> StaffAccount:
    key = (id(store), token)
    hit = _token_cache.get(key)
    if hit is not None and hit[1] > now and time.monotonic() - hit[2] < _CACHE_S:
        return hit[0]
    username = store.session_user(token, now)
    account = store.staff(username) if username else None
    if account is None or not account.active:
        _token_cache.pop(key, None)
        raise Unauthorized("bad_token", "the bearer token is unknown or expired; sign in again")
    if len(_token_cache) > 10_000:
        _token_cache.clear()
    _token_cache[key] = (account, now + TOKEN_TTL, time.monotonic())
    return account


def forget_token(store: Store, token: str) -> None:
    """Revoke a token: drop it from the store and from the cache."""
    _token_cache.pop((id(store), token), None)
    store.drop_session(token)


def require_role(account: StaffAccount, *roles: str) -> None:
    if account.role != "admin" and account.role not in roles:
        raise Forbidden("forbidden", f"role {account.role!r} may not do this")


def verify_sign_in(store: Store, *, operator: str | None, pin: str | None, authenticated: bool) -> StaffAccount:
    """Who signs in at a counter: a proven ``operator`` (REST token), or an operator's PIN (pads)."""
    if operator is not None:
        account = store.staff(operator)
        if account is None or not account.active:
            raise Unauthorized("unknown_operator", f"no staff account {operator!r}")
        if authenticated or (pin is not None and verify_secret(account.pin_hash, pin)):
            return account
        raise Unauthorized("bad_pin" if pin else "pin_required", "wrong PIN" if pin else "signing in needs a PIN")
    if pin is None:
        raise Unauthorized("pin_required", "signing in needs a PIN")
    for account in store.staff_with_pin_tag(pin_tag(pin)):
        if account.active and verify_secret(account.pin_hash, pin):
            return account
    raise Unauthorized("bad_pin", "no operator has this PIN")
