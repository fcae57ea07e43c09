"""An office for the security tests: the demo site on a real store, staff accounts, apps on it.

``make_app`` builds another server "process" on the same database (its own Store, its own app), as
a second uvicorn worker or another office's server would be.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.siteconfig import SiteConfig, parse_site_config
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import DEMO, OPEN_TIME, Clock

PASSWORD = "correct-horse-1"
STAFF = [("olena", "operator", "4711"), ("petro", "operator", "5822"), ("maria", "hall_manager", None),
         ("root", "admin", None)]


def office_config(office_id: str = "demo") -> SiteConfig:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["office"]["id"] = office_id
    return parse_site_config(yaml.safe_dump(data, allow_unicode=True), f"<{office_id}>")


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN_TIME)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "office.sqlite")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    for username, role, pin in STAFF:
        auth.create_account(s, username=username, role=role, password=PASSWORD, pin=pin,
                            display_name=username.capitalize(), now=OPEN_TIME)
    yield s
    s.close()


@pytest.fixture
def make_app(db_url: str, store: Store, clock: Clock) -> Iterator[Callable[..., FastAPI]]:
    """``make_app(office="demo")``: a server with its own Store on the office's database."""
    stores: list[Store] = []

    def make(office: str = "demo") -> FastAPI:
        own = Store(db_url)
        stores.append(own)
        return create_app(office_config(office), db_url, clock=clock, store=own, sweep_interval=None)

    yield make
    for s in stores:
        s.close()


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login(client: TestClient, user: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def new_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on SQLite and on a real PostgreSQL (started by the session's ``postgres`` fixture)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "any.sqlite")
    else:
        url = request.getfixturevalue("postgres").create_database(f"t_{uuid.uuid4().hex[:12]}")
    s = Store(url)
    yield s
    s.close()
