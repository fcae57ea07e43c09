"""No request the OpenAPI schema allows (and no malformed one) makes the server answer 500.

Schemathesis generates requests from the published schema and sends them in-process (ASGI),
with an admin's bearer token so the counter endpoints are exercised past authentication.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config

_clock = Clock(tick=dt.timedelta(seconds=7))
_app = create_app(demo_config(), sqlite_url(Path(tempfile.mkdtemp(prefix="cherga-st-")) / "cherga.db"),
                  clock=_clock, sweep_interval=None, demo_accounts=True)
_client = TestClient(_app)
_TOKEN = _client.post("/api/v1/auth/login", json={"username": "admin", "password": "cherga-admin"}).json()["token"]
for i, svc in enumerate(["passport", "residence", "property", "certificates"] * 3):
    _client.post("/api/v1/offices/demo/tickets", json={"service": svc, "command_id": f"seed{i}"})

schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_server_fail(case: schemathesis.Case) -> None:
    # Half of the cases aim at the real office, so the handlers behind the 404 are exercised too.
    if case.path_parameters and "office" in case.path_parameters and hash(repr(case.path_parameters)) % 2:
        case.path_parameters["office"] = "demo"
    headers = {"Authorization": f"Bearer {_TOKEN}"} if "auth/logout" not in case.operation.path else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    content_type = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and "application/json" in content_type[0]:
        assert "key" in response.json(), response.text[:300]  # every error says why, with a stable key
