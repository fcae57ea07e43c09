"""The demo staff accounts: who they are, and creating the ones a store lacks.

Both the web app (``CHERGA_DEMO_ACCOUNTS=1``) and ``cherga staff demo`` use them, so they live here,
below both (see ``docs/server.md``).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from cherga.server import auth
from cherga.server.store import Store

log = logging.getLogger(__name__)


class DemoAccount(NamedTuple):
    username: str
    role: auth.Role
    password: str
    pin: str | None
    display_name: str


DEMO_ACCOUNTS = (
    DemoAccount("admin", "admin", "cherga-admin", None, "Адміністратор"),
    DemoAccount("manager", "hall_manager", "cherga-manager", "9999", "Адміністратор залу"),
    DemoAccount("olena", "operator", "cherga-operator", "1111", "Олена Коваль"),
    DemoAccount("petro", "operator", "cherga-operator", "2222", "Петро Шевчук"),
)


def ensure_demo_accounts(store: Store) -> list[DemoAccount]:
    """Create the demo staff accounts that do not exist yet; returns the ones created."""
    created = []
    for account in DEMO_ACCOUNTS:
        if store.staff(account.username) is None:
            auth.create_account(store, username=account.username, role=account.role, password=account.password,
                                pin=account.pin, display_name=account.display_name)
            log.warning("demo account %s (%s) created with password %r%s", account.username, account.role,
                        account.password, f" and PIN {account.pin}" if account.pin else "")
            created.append(account)
    return created
