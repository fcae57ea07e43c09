"""An office for the administration tests: the demo site (with a kiosk and a display node, under an
office id of its own so tests share one Mosquitto) on a real SQLite store, an administrator, the app."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, parse_site_config
from cherga.server.store import Store, sqlite_url

ADMIN_PASSWORD = "admin-secret-1"
OPEN = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)  # a Monday morning in Kyiv, the demo office open


def site_text(demo_config_path: Path, office: str | None = None) -> str:
    data: dict[str, Any] = yaml.safe_load(demo_config_path.read_text(encoding="utf-8"))
    data["office"]["id"] = office or f"adm{uuid.uuid4().hex[:8]}"
    data["nodes"] = [{"id": "k1", "role": "kiosk"}, {"id": "d1", "role": "display"}]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.fixture
def config_file(tmp_path: Path, demo_config_path: Path) -> Path:
    path = tmp_path / "office.yaml"
    path.write_text(site_text(demo_config_path), encoding="utf-8")
    return path


@pytest.fixture
def site(config_file: Path) -> SiteConfig:
    return parse_site_config(config_file.read_text(encoding="utf-8"), str(config_file))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "office.sqlite"))
    auth.create_account(s, username="boss", role="admin", password=ADMIN_PASSWORD, display_name="Boss", now=OPEN)
    auth.create_account(s, username="olena", role="operator", password="operator-pass-1", pin="4711",
                        display_name="Olena", now=OPEN)
    yield s
    s.close()


@pytest.fixture
def app(site: SiteConfig, store: Store, config_file: Path) -> FastAPI:
    app = create_app(site, "sqlite://", clock=lambda: OPEN, store=store, sweep_interval=None)
    app.state.config_path = config_file  # as run_server sets it
    return app


@pytest.fixture
def service(app: FastAPI) -> OfficeService:
    service: OfficeService = app.state.service
    return service


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        r = c.post("/admin/signin", data={"username": "boss", "password": ADMIN_PASSWORD, "lang": "en"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        yield c


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    from tests.support.browser import serving

    with serving(app) as url:
        yield url
