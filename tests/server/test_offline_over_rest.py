"""A kiosk's offline ticket handed over by staff over REST: ``replaces`` works as it does over MQTT."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config

API = "/api/v1/offices/demo"


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    app = create_app(demo_config(), sqlite_url(tmp_path / "cherga.db"), clock=clock, sweep_interval=None,
                     demo_accounts=True)
    with TestClient(app) as c:
        yield c


def test_an_offline_ticket_handed_over_by_rest_cancels_the_late_request_it_replaces(client: TestClient,
                                                                                  clock: Clock) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "olena", "password": "cherga-operator"})
    staff = {"Authorization": f"Bearer {r.json()['token']}"}
    late = client.post(f"{API}/tickets", json={"service": "passport", "command_id": "kiosk-1:r1"}).json()
    issued_at = (clock.now - dt.timedelta(seconds=5)).isoformat()
    r = client.post(f"{API}/tickets/offline", headers=staff,
                    json={"service": "passport", "number": 900, "issued_at": issued_at,
                          "command_id": "kiosk-1:o1", "replaces": "kiosk-1:r1"})
    assert r.status_code == 201, r.text
    assert r.json()["label"] == "A-900"
    assert client.get(f"/api/v1/tickets/{late['token']}").json()["status"] == "cancelled"
    assert client.get(f"{API}/load").json()[0]["waiting"] == 1
