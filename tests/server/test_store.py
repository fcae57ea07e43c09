"""The store itself: migrations build exactly the schema the code uses, on both databases; SQLite is
opened durable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from cherga.server.db.schema import metadata
from cherga.server.store import Store, sqlite_url


def test_migrations_create_exactly_the_schema_the_code_expects(any_store: Store) -> None:
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_opening_a_store_twice_migrates_once_and_keeps_the_data(any_store: Store) -> None:
    any_store.put_staff(username="olena", display_name="Олена", role="operator", password_hash=None,
                        pin_hash=None, at=dt.datetime.now(dt.UTC))
    again = Store(any_store.url)
    try:
        assert again.staff("olena") is not None
    finally:
        again.close()


# What the analytics code created on first use before migration 0004 took the tables over.
_ANALYTICS_TABLES_OF_OLD_CODE = (
    "CREATE TABLE analytics_day_cells (office VARCHAR(40) NOT NULL, day DATE NOT NULL, cells TEXT NOT NULL, "
    "PRIMARY KEY (office, day))",
    "CREATE TABLE analytics_days (office VARCHAR(40) NOT NULL, day DATE NOT NULL, last_seq INTEGER NOT NULL, "
    "pruned BOOLEAN NOT NULL, PRIMARY KEY (office, day))",
)


def test_a_database_whose_analytics_tables_the_old_code_made_upgrades_and_keeps_its_days(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = Store(url, migrate=False)
    old.migrate("0003")
    with old.engine.begin() as conn:
        for ddl in _ANALYTICS_TABLES_OF_OLD_CODE:
            conn.exec_driver_sql(ddl)
        conn.exec_driver_sql("INSERT INTO analytics_days VALUES ('main', '2024-03-01', 41, 1)")
        conn.exec_driver_sql("INSERT INTO analytics_day_cells VALUES ('main', '2024-03-01', '[]')")
    old.close()

    upgraded = Store(url)
    try:
        with upgraded.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert conn.execute(text("SELECT office, day, last_seq, pruned FROM analytics_days")).all() == [
                ("main", "2024-03-01", 41, 1)]
            assert conn.execute(text("SELECT cells FROM analytics_day_cells")).scalar() == "[]"
    finally:
        upgraded.close()


def test_sqlite_runs_in_wal_with_full_synchronous_commits(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_a_pin_finds_its_operator_among_many_without_trying_each(tmp_path: Path) -> None:
    """A pad's PIN sign-in looks up one account, not an argon2 check per operator (100+ at a big centre)."""
    from cherga.server import auth

    store = Store(sqlite_url(tmp_path / "staff.db"))
    try:
        for i in range(40):
            auth.create_account(store, username=f"op{i}", role="operator", pin=f"{7000 + i}")
        candidates = store.staff_with_pin_tag(auth.pin_tag("7023"))
        assert [a.username for a in candidates] == ["op23"]
        assert auth.verify_sign_in(store, operator=None, pin="7023", authenticated=False).username == "op23"
        with pytest.raises(auth.Unauthorized):
            auth.verify_sign_in(store, operator=None, pin="6999", authenticated=False)
    finally:
        store.close()
