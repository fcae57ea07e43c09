"""The demo staff accounts: created once, usable with the passwords and PINs the docs and `cherga staff demo` print."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cherga.server import auth
from cherga.server.accounts import DEMO_ACCOUNTS, ensure_demo_accounts
from cherga.server.staff_cli import app as staff_app
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import OPEN_TIME


def test_demo_accounts_sign_in_with_their_password_and_pin_and_are_created_only_once(sqlite_store: Store) -> None:
    assert [a.username for a in ensure_demo_accounts(sqlite_store)] == ["admin", "manager", "olena", "petro"]
    assert ensure_demo_accounts(sqlite_store) == []
    for a in DEMO_ACCOUNTS:
        _, account, _ = auth.login(sqlite_store, a.username, a.password, OPEN_TIME)
        assert account.role == a.role and account.display_name == a.display_name
        if a.pin:
            assert auth.verify_sign_in(sqlite_store, operator=None, pin=a.pin, authenticated=False).username == a.username


def test_staff_demo_command_creates_the_accounts_it_prints(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "office.db")
    out = CliRunner().invoke(staff_app, ["demo", "--db", url])
    assert out.exit_code == 0, out.output
    assert "olena: operator, password cherga-operator, PIN 1111" in out.output
    store = Store(url)
    try:
        assert [store.staff(a.username) is not None for a in DEMO_ACCOUNTS] == [True] * len(DEMO_ACCOUNTS)
    finally:
        store.close()
