"""Fixtures of the server tests: a store on SQLite or a fresh PostgreSQL database, a clock, a service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import Clock, demo_config
from tests.support.postgres import PostgresServer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(sqlite_url(tmp_path / "cherga.db"))
    yield store
    store.close()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on both stores (PostgreSQL is started for real; missing, it fails with a fix)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "cherga.db")
    else:
        url = request.getfixturevalue("pg_url")
    store = Store(url)
    yield store
    store.close()


@pytest.fixture
def service(sqlite_store: Store, clock: Clock) -> OfficeService:
    return OfficeService(demo_config(), sqlite_store, clock=clock)
