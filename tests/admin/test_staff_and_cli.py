"""Staff accounts as an administrator manages them (server.admin.staff, ``cherga staff``) and the
office YAML in and out of the store on the command line (``cherga config export/import``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from cherga.server import auth
from cherga.server.admin import staff, versions
from cherga.server.errors import ServiceError
from cherga.server.store import Store, sqlite_url
from tests.admin.conftest import OPEN, site_text

NOW = OPEN


def cherga(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cherga", *args], capture_output=True, text=True, timeout=120)


def test_lock_unlock_role_password_and_pin(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "s.sqlite"))
    try:
        staff.add(store, username="ivan", role="operator", display_name="Ivan", password="first-pass-1", pin="2468",
                  now=NOW)
        with pytest.raises(ServiceError) as exists:
            staff.add(store, username="ivan", role="operator", display_name=None, password="x" * 9, pin=None, now=NOW)
        assert exists.value.key == "account_exists"
        token, _, _ = auth.login(store, "ivan", "first-pass-1", NOW)
        staff.set_active(store, "ivan", False)
        with pytest.raises(ServiceError):
            auth.account_for_token(store, token, NOW)  # a locked account's open session ends at once
        with pytest.raises(ServiceError):
            auth.login(store, "ivan", "first-pass-1", NOW)
        staff.set_active(store, "ivan", True)
        staff.set_password(store, "ivan", "second-pass-2")
        assert auth.login(store, "ivan", "second-pass-2", NOW)[1].username == "ivan"
        staff.set_role(store, "ivan", "hall_manager")
        assert store.staff("ivan").role == "hall_manager"  # type: ignore[union-attr]
        staff.set_pin(store, "ivan", "97531")
        assert auth.verify_sign_in(store, operator=None, pin="97531", authenticated=False).username == "ivan"
        for bad in (lambda: staff.set_pin(store, "ivan", "12"), lambda: staff.set_password(store, "ivan", "short"),
                    lambda: staff.set_role(store, "ivan", "king"), lambda: staff.set_active(store, "nobody", False)):
            with pytest.raises(ServiceError):
                bad()
    finally:
        store.close()


def test_the_staff_command_locks_and_lists(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "s.sqlite")
    assert cherga("staff", "add", "petro", "--password", "petro-pass-1", "--db", db).returncode == 0
    assert cherga("staff", "lock", "petro", "--db", db).returncode == 0
    listed = cherga("staff", "list", "--db", db)
    assert listed.returncode == 0 and listed.stdout.split("\t")[:3] == ["petro", "operator", "locked"]
    refused = cherga("staff", "pin", "petro", "--new-pin", "1", "--db", db)
    assert refused.returncode == 1 and "bad_pin" in refused.stderr


def test_config_import_checks_then_stores_and_export_gives_it_back(tmp_path: Path, demo_config_path: Path) -> None:
    db = sqlite_url(tmp_path / "s.sqlite")
    good = tmp_path / "office.yaml"
    good.write_text(site_text(demo_config_path, "cliimport"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text(encoding="utf-8").replace("prefix: B", "prefix: A", 1), encoding="utf-8")
    refused = cherga("config", "import", str(bad), "--db", db)
    assert refused.returncode == 1 and "services.1.prefix" in refused.stderr
    assert cherga("config", "export", "--office", "cliimport", "--db", db).returncode == 1  # nothing stored
    stored = cherga("config", "import", str(good), "--db", db, "--by", "technician", "--comment", "first")
    assert stored.returncode == 0 and "version 1" in stored.stdout
    exported = cherga("config", "export", "--office", "cliimport", "--db", db)
    assert exported.returncode == 0 and exported.stdout == good.read_text(encoding="utf-8")
    store = Store(db)
    try:
        v = versions.latest(store, "cliimport")
        assert v is not None and (v.author, v.comment) == ("technician", "first")
        assert v.saved_at <= dt.datetime.now(dt.UTC)
    finally:
        store.close()
