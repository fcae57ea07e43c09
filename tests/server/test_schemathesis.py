"""No request the OpenAPI schema allows (and no malformed one) makes the server answer 500, and
neither does any query or form a page is sent.

Schemathesis generates requests from the published schema and sends them in-process (ASGI),
with an admin's bearer token so the counter endpoints are exercised past authentication. The
pages (the panel, reports, the load page, the booking form, ...) are left out of that schema, so
Hypothesis fuzzes them from their routes' own signatures: every path parameter, query parameter
and form field, with values from anywhere and from the edges (years 1 and 9999, inf, nan, huge
numbers), signed in as the admin (cookies and bearer).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import urllib.parse
from pathlib import Path

import pytest
import schemathesis
from fastapi import routing
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherga.server.app import API_PREFIX, create_app
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


# --- pages and forms ---------------------------------------------------------------------------------

# Query parameters pages read from the request themselves (no signature names them).
_READ_BY_HAND = ("lang", "refresh", "from", "to", "period", "group", "service", "table")
# A five-minute event stream, and sign-outs that would end the session the other cases use.
_NOT_FUZZED = ("/panel/events", "/panel/signout", "/reports/signout")
_PAGES = [(ctx.path, method, route) for ctx in routing.iter_route_contexts(_app.routes)
          if isinstance(route := ctx.original_route, routing.APIRoute)
          and ctx.path and not ctx.path.startswith(API_PREFIX) and ctx.path not in _NOT_FUZZED
          for method in sorted(route.methods or ())]
_KNOWN = {"office": ["demo"], "counter": ["c1", "c2"], "name": ["panel.js", "load.js"], "service": ["passport", "notary"],
          "action": ["next", "postpone", "finish", "transfer", "pause"], "lang": ["uk", "ru", "ky", "kk", "en"]}
_EDGES = ["", "0", "-1", "1e309", "inf", "-inf", "nan", "9" * 5000, "0001-01-01", "9999-12-31", "2026-11-25",
          "9999-12-31T23:45:00Z", "0001-01-01T00:00:00+05:00", "2026-11-26T10:00:00+02:00", "total", "none",
          "service,operator", "../../etc/passwd", "\x00"]
# Mostly values from the edges, the rest from anywhere.
_ANY = st.one_of(st.sampled_from(_EDGES), st.sampled_from(_EDGES), st.one_of(
    st.text(max_size=20), st.integers().map(str), st.floats().map(str), st.dates().map(str),
    st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)))
_HEADERS = {"Authorization": f"Bearer {_TOKEN}", "Cookie": f"cherga_panel={_TOKEN}; cherga_reports={_TOKEN}"}
_pages = TestClient(_app, raise_server_exceptions=False, follow_redirects=False)


def _value(name: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(_KNOWN[name]), st.sampled_from(_KNOWN[name]), _ANY) if name in _KNOWN else _ANY


def test_the_page_fuzz_reaches_the_pages_and_their_forms() -> None:
    paths = {path for path, _, _ in _PAGES}
    assert {"/load/{office}", "/panel/counter/{counter}/action", "/office/{office}/book", "/reports/{office}"} <= paths


def _send(path: str, method: str, route: routing.APIRoute, data: st.DataObject) -> None:
    url = path
    for param in route.dependant.path_params:
        url = url.replace("{" + param.name + "}", urllib.parse.quote(data.draw(_value(param.name)), safe="") or "x")
    names = [q.alias for q in route.dependant.query_params] + (list(_READ_BY_HAND) if method == "GET" else [])
    query = data.draw(st.fixed_dictionaries({}, optional={n: _value(n) for n in names}))
    # Every field of a form is sent (as a browser does), so values meet: an action with its delay, say.
    form = data.draw(st.fixed_dictionaries({f.alias: _value(f.alias) for f in route.dependant.body_params}))
    response = _pages.request(method, url, params=query, data=form or None, headers=_HEADERS)
    assert response.status_code < 500, f"{method} {url} {query} {form} -> {response.status_code}: {response.text[:300]}"


_GETS = [p for p in _PAGES if p[1] == "GET"]
_FORMS = [p for p in _PAGES if p[1] != "GET"]


@pytest.mark.parametrize(("path", "method", "route"), _GETS, ids=[f"{m} {p}" for p, m, _ in _GETS])
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_page_query_makes_the_server_fail(path: str, method: str, route: routing.APIRoute,
                                             data: st.DataObject) -> None:
    _send(path, method, route, data)


@pytest.mark.parametrize(("path", "method", "route"), _FORMS, ids=[f"{m} {p}" for p, m, _ in _FORMS])
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_form_makes_the_server_fail(path: str, method: str, route: routing.APIRoute, data: st.DataObject) -> None:
    _send(path, method, route, data)
