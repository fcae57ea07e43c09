"""Informing fixtures: the demo and Kryvyi Rih offices (their example configs carry the service
information), and the real server app over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server.app import create_app
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def demo() -> SiteConfig:
    return load_site_config(EXAMPLES / "demo-office.yaml")


@pytest.fixture(scope="session")
def kryvyi_rih() -> SiteConfig:
    return load_site_config(EXAMPLES / "kryvyi-rih.yaml")


@pytest.fixture(scope="module")
def app(demo: SiteConfig, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = tmp_path_factory.mktemp("informing") / "cherga.db"
    return create_app(demo, sqlite_url(db), clock=Clock(), sweep_interval=None)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
