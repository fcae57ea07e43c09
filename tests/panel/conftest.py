"""An office for panel tests: the demo site on a real SQLite store, staff accounts, a served app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import Store, sqlite_url

PASSWORD = "correct-horse-1"
# A Monday morning in Kyiv, inside the demo office's hours.
OPEN = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, start: dt.datetime = OPEN) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def site(demo_config_path: Path) -> SiteConfig:
    return load_site_config(demo_config_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "office.sqlite"))
    for username, role, pin in [("olena", "operator", "4711"), ("taras", "operator", "5822"),
                                ("maria", "hall_manager", None)]:
        auth.create_account(s, username=username, role=role, password=PASSWORD, pin=pin,
                            display_name=username.capitalize(), now=OPEN)
    yield s
    s.close()


@pytest.fixture
def app(site: SiteConfig, store: Store, clock: Clock) -> FastAPI:
    """The office server's real app (REST API, panel included through its plugin hook)."""
    return create_app(site, "sqlite://", clock=clock, store=store, sweep_interval=None)


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    """The app on uvicorn on loopback, for the browser tests (a module may seed the office first)."""
    from tests.support.browser import serving

    with serving(app) as url:
        yield url


@pytest.fixture
def service(app: FastAPI) -> OfficeService:
    service: OfficeService = app.state.service
    return service


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def signed_in(client: TestClient) -> Callable[..., TestClient]:
    def sign_in(username: str = "olena", counter: str = "c1", lang: str = "en") -> TestClient:
        r = client.post("/panel/signin", data={"username": username, "password": PASSWORD, "counter": counter,
                                               "lang": lang}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client
    return sign_in
