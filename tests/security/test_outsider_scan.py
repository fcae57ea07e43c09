"""An outsider on the hall network tries every route of a running office (issue 23, "Done when").

Every route the app serves, under every method it takes, is called as a stranger would: no cookie,
no token, then again as a page of another site (a foreign ``Origin``). What answers a stranger with
success must be on the list of what is public by design, and that list is the one docs/security.md
gives the reader ("What an outsider reaches"), so a new route is either refused to strangers or
written down there: the test fails until one of the two is true. No route may answer a stranger
with a server error, and no answer may carry a password hash, a session token or a PIN.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# What a stranger would type into each path parameter: the office's real ids where an outsider can
# read them off the hall (office, counter, service), made-up values where they are secrets (tokens,
# ticket ids, booking codes).
_PARAMS = {
    "office": "demo", "counter": "c1", "service_id": "passport", "bundle_id": "newborn", "section": "office",
    "number": "1", "username": "olena", "action": "lock", "name": "x.js", "path": "targets.json",
    "call_id": "call-1",
}


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, through included routers."""
    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for r in routes:
            if isinstance(r, (APIRoute, Route)):
                for method in sorted(r.methods or ()):
                    if method != "HEAD":
                        yield method, prefix + r.path
            elif hasattr(r, "original_router"):  # FastAPI's included router
                yield from walk(r.original_router.routes, prefix + (getattr(r.include_context, "prefix", "") or ""))
    yield from walk(list(app.routes), "")


def _fill(template: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        return _PARAMS.get(name, secrets.token_urlsafe(12))
    return re.sub(r"{([^}]+)}", value, template)


def _documented_public() -> set[tuple[str, str]]:
    section = DOC.read_text(encoding="utf-8").split("## What an outsider reaches", 1)[1].split("\n## ", 1)[0]
    bullets = "\n".join(line for line in section.splitlines() if line.startswith("- "))
    return {(m.group(1), m.group(2)) for m in re.finditer(r"`(GET|POST) ([^`]+)`", bullets)}


HALL_LAPTOP = "10.0.0.7"  # an address on the hall network, not the server's own box


@pytest.fixture
def app(make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # The scan is ~150 requests from one address: rate limits are shown elsewhere
    # (tests/security/test_web.py), here they would only hide what a route answers.
    monkeypatch.setenv("CHERGA_RATE_LIMIT_EXEMPT", HALL_LAPTOP)
    monkeypatch.delenv("CHERGA_METRICS_FROM", raising=False)
    return make_app()


@pytest.fixture
def stranger(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False, client=(HALL_LAPTOP, 50000)) as c:
        yield c


def _call(client: TestClient, method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    if method in UNSAFE:
        return client.request(method, url, headers=headers, data={"x": "1"})
    return client.request(method, url, headers=headers)


def test_what_answers_a_stranger_is_exactly_what_docs_security_lists_as_public(
        app: FastAPI, stranger: TestClient) -> None:
    open_to_stranger: set[tuple[str, str]] = set()
    server_errors = []
    for method, template in _routes(app):
        r = _call(stranger, method, _fill(template))
        if r.status_code >= 500:
            server_errors.append(f"{method} {template}: {r.status_code}")
        elif 200 <= r.status_code < 300:
            open_to_stranger.add((method, template))
    assert not server_errors, f"a stranger's request broke the server: {server_errors}"
    documented = _documented_public()
    assert open_to_stranger - documented == set(), (
        "these answer a stranger but docs/security.md does not say they are public: "
        f"{sorted(open_to_stranger - documented)}")
    assert documented - open_to_stranger == set(), (
        f"docs/security.md lists these as public but they refuse a stranger: {sorted(documented - open_to_stranger)}")


def test_a_page_of_another_site_changes_nothing_through_any_route(app: FastAPI, stranger: TestClient) -> None:
    """Every state-changing route, public forms included, refuses a request sent from another origin."""
    accepted = []
    for method, template in _routes(app):
        if method not in UNSAFE:
            continue
        r = _call(stranger, method, _fill(template), headers={"Origin": "http://laptop.hall.example:8080"})
        if r.status_code != 403:
            accepted.append(f"{method} {template}: {r.status_code}")
    assert not accepted, f"answered a foreign page with something other than 403 cross_site: {accepted}"


def test_no_answer_to_a_stranger_carries_a_secret_or_goes_without_the_security_headers(
        app: FastAPI, stranger: TestClient) -> None:
    leaks, bare = [], []
    for method, template in _routes(app):
        if method in UNSAFE:
            continue
        r = _call(stranger, method, _fill(template))
        body = r.text if "text" in r.headers.get("content-type", "") or "json" in r.headers.get("content-type", "") else ""
        if re.search(r"password_hash|pin_hash|\$argon2|session_token", body):
            leaks.append(f"{method} {template}")
        if "content-security-policy" not in r.headers or r.headers.get("x-content-type-options") != "nosniff":
            bare.append(f"{method} {template}: {r.status_code}")
    assert not leaks, f"secrets in answers to a stranger: {leaks}"
    assert not bare, f"answers without the security headers: {bare}"


def test_the_metrics_are_read_from_the_servers_own_box_not_from_the_hall(app: FastAPI, stranger: TestClient,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert stranger.get("/metrics").status_code == 403
    with TestClient(app, client=("127.0.0.1", 50000)) as own_box:
        assert "cherga_tickets_waiting" in own_box.get("/metrics").text
    monkeypatch.setenv("CHERGA_METRICS_FROM", "10.0.0.0/24")
    assert "cherga_tickets_waiting" in stranger.get("/metrics").text


def test_a_counter_tells_a_stranger_the_number_called_but_not_the_citizens_link_or_the_operators_login(
        app: FastAPI, stranger: TestClient) -> None:
    from tests.security.conftest import PASSWORD

    with TestClient(app) as staff:
        assert staff.post("/api/v1/offices/demo/tickets", json={"service": "passport"}).status_code == 201
        token = staff.post("/api/v1/auth/login", json={"username": "olena", "password": PASSWORD}).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert staff.post("/api/v1/offices/demo/counters/c1/sign-in", headers=bearer, json={}).status_code == 200
        called = staff.post("/api/v1/offices/demo/counters/c1/next", headers=bearer, json={}).json()["ticket"]
        own = staff.get("/api/v1/offices/demo/counters/c1", headers=bearer).json()
    seen = stranger.get("/api/v1/offices/demo/counters/c1").json()
    assert seen["ticket"]["label"] == called["label"] and seen["operator_name"] == own["operator_name"]
    assert own["ticket"]["token"] and own["operator"] == "olena"  # staff still see them
    text = stranger.get("/api/v1/offices/demo/counters/c1").text
    assert called["token"] not in text and '"olena"' not in text
    assert stranger.get(f"/t/{called['token']}").status_code == 200  # what the link would have opened
